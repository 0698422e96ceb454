"""Where settings come from, before they are validated (:func:`memoryd.config.load_settings`):
the keys of a TOML file or of overrides checked against the settings' model, ``MEMORYD_*``
environment variables read as dotted settings, top-level aliases, and merging by precedence.

Nothing here knows the settings' model: it is handed in, so :mod:`memoryd.config` imports this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from memoryd.errors import ConfigError

__all__ = [
    "ALIASES",
    "CONFIG_ENV",
    "ENV_PREFIX",
    "check_keys",
    "env_key",
    "env_overrides",
    "merge",
    "unalias",
]

ENV_PREFIX = "MEMORYD_"
CONFIG_ENV = "MEMORYD_CONFIG"
TEST_ENV_PREFIX = "MEMORYD_TEST_"  # the test suite's own variables (a server to test against): no settings

def _allowed(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_fields)


def check_keys(data: Mapping[str, Any], model: type[BaseModel], prefix: str, source: str) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in model.model_fields:
            raise ConfigError(
                f"unknown setting '{dotted}' in {source}; allowed: {', '.join(_allowed(model))}",
                field=dotted,
            )
        annotation = model.model_fields[key].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not isinstance(value, Mapping):
                raise ConfigError(f"setting '{dotted}' in {source} must be a table", field=dotted)
            check_keys(value, annotation, dotted + ".", source)


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


def env_overrides(env: Mapping[str, str], sections: Iterable[str]) -> dict[str, Any]:
    """The settings the ``MEMORYD_*`` variables of ``env`` set, as nested tables."""
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
    return out


def unalias(data: dict[str, Any]) -> dict[str, Any]:
    """Move top-level aliases (``async_pipeline``) to their setting, unless that is set too."""
    for alias, dotted in ALIASES.items():
        if alias in data:
            section, key = dotted.split(".")
            value = data.pop(alias)
            table = data.setdefault(section, {})
            if isinstance(table, dict):
                table.setdefault(key, value)
    return data


def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
