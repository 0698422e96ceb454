"""Where settings come from, before they are validated (:func:`memoryd.config.load_settings`):
the keys of a TOML file or of overrides checked against the settings' model, ``MEMORYD_*``
environment variables read as dotted settings, top-level aliases, and merging by precedence;
and how the settings' validators read a value of either (a path, a number, "" for unset).

Nothing here knows the settings' model: it is handed in, so :mod:`memoryd.config` imports this.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel

from memoryd.errors import ConfigError

__all__ = [
    "ALIASES",
    "CONFIG_ENV",
    "ENV_PREFIX",
    "bind_host",
    "check_keys",
    "env_key",
    "env_overrides",
    "file_keys",
    "is_number",
    "merge",
    "named_by",
    "none_if_unset",
    "optional_path",
    "path_text",
    "printable_name",
    "setters",
    "str_list",
    "str_map",
    "unalias",
    "unset_size",
    "url_text",
]

ENV_PREFIX = "MEMORYD_"
CONFIG_ENV = "MEMORYD_CONFIG"
TEST_ENV_PREFIX = "MEMORYD_TEST_"  # the test suite's own variables (a server to test against): no settings


def setters(dotted: str, origins: Iterable[tuple[str, str]]) -> list[str]:
    """The variables (of ``origins``: dotted setting, variable) that set ``dotted``, a table
    holding it (``llm.tiers`` for ``llm.tiers.0.0``), or a key inside it (``storag.path`` for
    ``storag``)."""
    return sorted(
        name
        for key, name in origins
        if key == dotted or key.startswith(dotted + ".") or dotted.startswith(key + ".")
    )


def named_by(dotted: str, origins: Mapping[str, str]) -> str:
    """:func:`setters` as `` (NAME, ...)`` for a message; "" when none set it."""
    names = setters(dotted, origins.items())
    return f" ({', '.join(names)})" if names else ""


def check_keys(
    data: Mapping[str, Any],
    model: type[BaseModel],
    prefix: str,
    source: str,
    origins: Mapping[str, str] | None = None,
) -> None:
    """Every key of ``data`` is a setting of ``model``, and a section's value a table; the error
    names the key, the allowed ones and, from ``origins`` (dotted setting -> variable), who set it."""
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        where = f"{source}{named_by(dotted, origins or {})}"
        if key not in model.model_fields:
            # At the top level a switch of ALIASES is allowed too (unalias moved it before).
            allowed = sorted([*model.model_fields, *([] if prefix else ALIASES)])
            raise ConfigError(
                f"unknown setting '{dotted}' in {where}; allowed: {', '.join(allowed)}", field=dotted
            )
        annotation = model.model_fields[key].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not isinstance(value, Mapping):
                raise ConfigError(f"setting '{dotted}' in {where} must be a table", field=dotted)
            check_keys(value, annotation, dotted + ".", source, origins)


def file_keys(data: Mapping[str, Any], model: type[BaseModel], prefix: str = "") -> list[str]:
    """The dotted settings a file's tables set, a table of tables (``[storage.qdrant]``) key by key,
    as the environment sets them (``storage.qdrant.url``); a value of another kind whole."""
    keys = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        inner = field.annotation if field is not None else None
        if isinstance(value, Mapping) and isinstance(inner, type) and issubclass(inner, BaseModel):
            keys += file_keys(value, inner, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


# Top-level switches that name a nested setting: in the TOML file (``async_pipeline = true``)
# and in the environment (``MEMORYD_ASYNC_PIPELINE``). The section's own spelling wins.
ALIASES = {"async_pipeline": "pipeline.enabled"}


def env_key(name: str, sections: Iterable[str]) -> str | None:
    """The dotted setting an environment variable sets (``MEMORYD_LLM_MODEL`` -> ``llm.model``).

    ``MEMORYD_<SECTION>__<KEY>`` is the canonical spelling; ``MEMORYD_<SECTION>_<KEY>``
    is accepted for a known section, and ``MEMORYD_<ALIAS>`` for an entry of
    :data:`ALIASES`. ``None`` for names that are not settings (``MEMORYD_TEST_*`` included).
    """
    if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV or name.startswith(TEST_ENV_PREFIX):
        return None
    alias = ALIASES.get(name[len(ENV_PREFIX) :].lower())
    if alias is not None:
        return alias
    rest = name[len(ENV_PREFIX) :].lower()
    if "__" not in rest:
        for section in sorted(sections, key=len, reverse=True):
            if rest.startswith(section + "_") and len(rest) > len(section) + 1:
                return f"{section}.{rest[len(section) + 1 :]}"
    return rest.replace("__", ".")


def env_overrides(
    env: Mapping[str, str], sections: Iterable[str], origins: dict[str, str] | None = None
) -> dict[str, Any]:
    """The settings the ``MEMORYD_*`` variables of ``env`` set, as nested tables; ``origins``, when
    given, is filled with the variable that set each dotted setting (for messages)."""
    sections = list(sections)
    out: dict[str, Any] = {}
    # Aliases first, so that the canonical double-underscore spelling wins when both are set.
    def rank(name: str) -> int:
        rest = name[len(ENV_PREFIX) :]
        return 0 if rest.lower() in ALIASES else 2 if "__" in rest else 1

    names = sorted((n for n in env if env_key(n, sections)), key=rank)
    set_by: dict[str, str] = {}  # dotted setting -> the variable that set it
    for name in names:
        dotted = str(env_key(name, sections))
        parts = dotted.split(".")
        node = out
        for i, part in enumerate(parts):
            prefix = ".".join(parts[: i + 1])
            value = node.get(part)
            # A variable for a table and one for a key inside it (MEMORYD_STORAGE, MEMORYD_STORAGE__PATH)
            if (i < len(parts) - 1 and value is not None and not isinstance(value, dict)) or (
                i == len(parts) - 1 and isinstance(value, dict)
            ):
                other = set_by.get(prefix) or next(v for k, v in set_by.items() if k.startswith(prefix + "."))
                raise ConfigError(
                    f"{other} and {name} conflict in the environment (MEMORYD_* variables): one sets "
                    f"'{prefix}' itself, the other a key inside it; unset one",
                    field=prefix,
                )
            if i < len(parts) - 1:
                node = node.setdefault(part, {})
        node[parts[-1]] = env[name]
        set_by[dotted] = name
    if origins is not None:
        origins.update(set_by)
    return out


def unalias(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with its top-level aliases (``async_pipeline``) moved to their setting, unless that
    is set too (``data`` itself is left as it is)."""
    out = dict(data)
    for alias, dotted in ALIASES.items():
        if alias in out:
            section, key = dotted.split(".")
            value = out.pop(alias)
            table = out.setdefault(section, {})
            if isinstance(table, Mapping):
                out[section] = {key: value, **table}
    return out


def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def is_number(annotation: Any) -> bool:
    """Whether a setting of this type holds a number (``int``, ``float``, or either or unset)."""
    kinds = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    return all(kind in (int, float) for kind in kinds)


def none_if_unset(value: Any) -> Any:
    """TOML has no null: for an optional setting, "" (or blanks, or 0 for a size) means "not set"."""
    blank = isinstance(value, str) and not value.strip()
    return None if blank or (value == 0 and not isinstance(value, bool)) else value


def unset_size(value: Any) -> Any:
    """An optional size whose 0 means "not set" (``embedder.dim``: ask the endpoint): 0 from TOML
    or overrides, and "0" (or "", " 0 ", "0.0") as the environment and ``--set`` spell it."""
    if isinstance(value, str):
        try:
            return None if not value.strip() or float(value) == 0 else value
        except ValueError:
            return value  # not a number: refused by the setting's own type, with its words
    return none_if_unset(value)


def str_list(value: Any) -> Any:
    """A list of strings; from the environment: a JSON list, or names separated by commas."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError("must be a JSON list of strings or names separated by commas") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def str_map(value: Any) -> Any:
    """A table of strings; from the environment: a JSON object."""
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else {}
        except ValueError:
            raise ValueError('must be a JSON object, e.g. {"smart": "gpt-4o"}') from None
    return value


def path_text(value: Any) -> str:
    """A path setting's value as text: a number, a switch or a list is no path (``path = 3`` made a
    store named ``3`` in the working directory)."""
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError("must be a path, written as a string in quotes")
    return os.path.expanduser(os.fspath(value))


def optional_path(value: Any) -> Any:
    """An optional path setting: "" is not set, ``~`` is the home folder."""
    value = none_if_unset(value)
    return Path(path_text(value)) if value is not None else None


_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")  # one label of a host name


def bind_host(value: str) -> str:
    """``server.host`` (or ``serve --host``): an IP address or a host name. What no socket binds
    and no URL holds (a URL, ``host:port``, an unclosed ``[::1``, a name longer than DNS allows,
    nothing) is refused here: it ended ``serve --check`` and ``doctor`` in a traceback."""
    text = value.strip()
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    try:
        name = text.encode("idna").decode("ascii").removesuffix(".")
    except UnicodeError:  # a label over 63 characters, ...
        name = ""
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(
            "must be an IP address (127.0.0.1, 0.0.0.0, ::1) or a host name, "
            "with no scheme, port or brackets"
        )
    return text


def url_text(value: Any) -> Any:
    """A base URL setting (``llm.base_url``, ``embedder.base_url``): what urllib cannot split (an
    unclosed ``http://[::1``, a port that is no number or over 65535) is refused here; it ended
    ``doctor`` and ``add --mode fine`` in a traceback."""
    if isinstance(value, str):
        try:
            urlsplit(value.strip()).port  # noqa: B018 - read for the ValueError it raises
        except ValueError as exc:
            raise ValueError(f"is not a valid URL: {exc}") from None
    return value


def printable_name(value: str) -> str:
    """A name (``pipeline.group``, ``pipeline.consumer``) that goes into log lines and tables as
    written: no control character (a line break, an escape sequence), nor another that prints nothing."""
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"holds a control character ({bad!r}); a name must be printable text")
    return value
