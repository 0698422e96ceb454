"""What settings and messages show of secrets: passwords in URLs and connection strings, keys,
tokens. Used to print settings (``config show``), in error messages and in logs."""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from pydantic import BaseModel, SecretStr

__all__ = ["has_userinfo", "is_url", "mask", "mask_text", "mask_url", "masked", "secret_urls"]

# The userinfo of a URL ("scheme://user:password@"), in a URL or in a message quoting one: up to
# the last "@" of the URL, so a password holding "/", "?" or "#" (not percent-encoded, as people
# write them) is masked whole, even if it makes a host of "@"s in a path masked too.
_USERINFO = re.compile(r"\b(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s\"'<>]*)@")
# A parameter whose name ends in one of these (``key`` as Gemini's ``?key=``, ``api-key`` as Azure's,
# ``access_token``, ``sig`` as a signed URL's, ``code`` as an Azure Function's, ``auth`` as some API
# gateways') holds a secret.
_SECRET_PARAM = re.compile(
    r"(?i)(?<![A-Za-z0-9_.-])"
    r"(?P<key>[A-Za-z0-9_.-]*(?:password|passwd|pwd|token|key|secret|sig|signature|code|auth))"
    r"=(?:'(?:[^'\\]|\\.)*'|[^&\s'\"]+)"
)


# A string that is one URL (a setting's value): its userinfo is all up to its last "@", whatever it
# holds. A password holding a space, a quote, "<" or ">" (written unencoded; redis-py and httpx
# read it) ended the pattern above, which matched nothing and left the password whole. (Its first
# line only: a message that goes on below a URL keeps the lines it quotes.)
_WHOLE_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>.*)@")


def mask_url(text: str) -> str:
    """``text`` (a URL, or a message quoting URLs) with the password of each URL's userinfo masked,
    fit to print and log: ``http://user:***@host/v1`` (a userinfo without a password, often a
    token, as ``***``); and so are secrets given as parameters, in a query string or a libpq
    connection string (``?password=***``, ``host=db password=***``). A text that starts with a URL
    (a URL setting) has its userinfo masked up to its last ``@``, whatever characters it holds."""
    whole = _WHOLE_URL.match(text) if "@" in text else None
    if whole is not None:
        text = _mask_userinfo(whole) + text[whole.end() :]
    masked_text = _USERINFO.sub(_mask_userinfo, text) if "@" in text else text
    return _SECRET_PARAM.sub(r"\g<key>=***", masked_text) if "=" in masked_text else masked_text


# A secret written as a key and its value in text that is meant to be JSON or TOML (an env
# variable's JSON that did not parse, echoed by an error): ``"api_key": "sk-..."``, ``token = x``.
# The value ends at its closing quote or, unquoted or never closed, at the next , } ] or line end.
# A key starts a run of its characters (or follows a quote): a match inside a run always has one at
# the run's start too, and trying every start of a long run (a setting's value) took quadratic time.
_SECRET_PAIR = re.compile(
    r"""(?i)(?P<key>["']?(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]*(?:password|passwd|pwd|token|key|secret)["']?\s*[:=]\s*)"""
    r"""(?:"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|[^,}\]\s"']+)"""
)


def mask_text(text: str) -> str:
    """``text`` (an input an error echoes: a setting's value, maybe broken JSON) with what looks
    like a secret masked: URL passwords and secret parameters (:func:`mask_url`), and the value of
    each ``"api_key": "..."`` / ``token = ...`` pair, quoted or not, closed or not."""
    return mask_url(_SECRET_PAIR.sub(r"\g<key>***", text))


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    return f"{match['scheme']}{user + ':***' if colon else '***'}@"


def has_userinfo(url: str) -> bool:
    """``url`` carries credentials (``scheme://user:password@host``)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    return parts.username is not None or parts.password is not None


def is_url(key: str) -> bool:
    return key.lower().split("_")[-1] in ("url", "uri")


def _is_secret(key: str) -> bool:
    """``api_key``, ``secret``, ``password``, ``auth_token``; not ``token_budget`` or ``keys_path``."""
    words = key.lower().split("_")
    return words[-1] in ("key", "secret", "password", "token") or "secret" in words or "password" in words


def masked(value: Any, key: str) -> Any:
    """A copy of ``value`` (the setting ``key``'s) fit to print: secrets masked, however deep
    (the rules of :func:`mask`)."""
    held = {key: json.loads(json.dumps(value, default=str))}
    mask(held)
    shown = held[key]
    return mask_text(shown) if isinstance(shown, str) and shown != "***" else shown


def mask(data: dict[str, Any]) -> None:
    """Mask ``data`` (settings as plain data) in place: URLs keep all but their passwords, other
    secrets (by their key's name) become ``***``. What a list or tuple holds is masked as its key's
    value would be (``{"api_key": ["sk-1"]}``: ``["***"]``), however deep; a table's by its own keys."""
    for key, value in data.items():
        data[key] = _masked_value(str(key), value)


def _masked_value(key: str, value: Any) -> Any:
    """``value``, the setting ``key``'s or an item of it, masked (a table or list in place)."""
    if isinstance(value, dict):
        mask(value)
    elif isinstance(value, list):
        value[:] = [_masked_value(key, item) for item in value]
    elif isinstance(value, tuple):
        return tuple(_masked_value(key, item) for item in value)
    elif isinstance(value, str) and is_url(key):
        return mask_url(value)
    elif value and _is_secret(key):
        return "***"
    return value


def secret_urls(model: BaseModel, data: dict[str, Any]) -> None:
    """Show each URL kept as a secret (it may hold a password: ``pipeline.redis_url``,
    ``storage.postgres.url``) where it points, password masked, in ``data`` (``model`` dumped)."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel) and isinstance(data.get(name), dict):
            secret_urls(value, data[name])
        elif isinstance(value, SecretStr) and is_url(name):
            data[name] = mask_url(value.get_secret_value())
