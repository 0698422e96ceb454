"""Who is talking: the user and session of one chat request.

The user, first found wins: the user an API key is bound to (``principal``),
then the headers of ``gateway.user_headers`` (``X-Memoryd-User-Id``, MemoryOS's
``X-User-ID``), then the body's ``user`` field. The session: the headers of
``gateway.session_headers`` (``X-Memoryd-Session-Id``), then
``metadata.session_id`` (or ``metadata.run_id``). Those two metadata keys are
memoryd's, so they are taken out of the body sent upstream (OpenAI refuses
``metadata`` without ``store``: an emptied ``metadata`` goes too). The body's
end-user fields (``IDENTITY_FIELDS``: ``user``, ``safety_identifier`` — OpenAI's
successor to ``user`` for abuse monitoring — and ``metadata.user_id``, Anthropic's one
field, which its wire writes from the first of them: :func:`end_user`) are passed
upstream as the client sent them, except under a key bound to a user: the upstream is
then told that user (the one the memory and usage are kept for), never one the key's
holder named; none is added where there was none (a field sent as ``null`` is none).
``prompt_cache_key`` is a cache key, not an identity: it is passed on as sent.
OpenAI takes a ``safety_identifier`` of at most 64 characters: the OpenAI wire sends a longer
one as its SHA-256 (:func:`safety_identifier`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from memoryd.config import GatewayConfig
from memoryd.errors import InvalidInputError
from memoryd.models import check_id

__all__ = [
    "IDENTITY_FIELDS",
    "MAX_ID_CHARS",
    "SAFETY_ID_CHARS",
    "SESSION_KEYS",
    "Identity",
    "end_user",
    "identify",
    "safety_identifier",
    "upstream_body",
]

MAX_ID_CHARS = 256
SAFETY_ID_CHARS = 64  # OpenAI's limit of safety_identifier (user has no documented one)
SESSION_KEYS = ("session_id", "run_id")
# The body's top-level fields that name the end user to the upstream provider (rewritten under a
# user-bound key), besides ``metadata.user_id``.
IDENTITY_FIELDS = ("user", "safety_identifier")


@dataclass(frozen=True)
class Identity:
    """The request's user and session (``None`` when not given) and where the user came from."""

    user_id: str | None
    session_id: str | None
    source: str  # "api key", a header name, "user" (the body field), or "none"

    @property
    def bound(self) -> bool:
        """The user is a user-bound key's: an end user, shown no upstream's address."""
        return self.source == "api key"


def _clean(value: Any, field: str) -> str | None:
    if value is None:
        return None
    return check_id(value.strip() if isinstance(value, str) else value, field, MAX_ID_CHARS)


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _header(headers: Mapping[str, str], names: list[str]) -> tuple[str, str] | None:
    for name in names:
        value = headers.get(name)
        if value is not None and value.strip():
            return name, _utf8(name, value)
    return None


def _utf8(name: str, value: str) -> str:
    """A header's value as the client meant it: HTTP hands over bytes (read as Latin-1), and a
    client sends a name such as "josé" as UTF-8; read as Latin-1 it would name another user."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise InvalidInputError(f"the {name} header is not UTF-8 text", field=name) from None


def identify(
    body: Mapping[str, Any], headers: Mapping[str, str], principal: Any, config: GatewayConfig
) -> Identity:
    """The :class:`Identity` of a request (``headers`` case-insensitive, as Starlette's are)."""
    bound = getattr(principal, "user_id", None)
    found = _header(headers, config.user_headers)
    user: str | None
    if bound is not None:  # as the key names it: the user its REST calls, usage and deletion name
        user, source = str(bound), "api key"
    elif found is not None:
        user, source = _clean(found[1], found[0]), found[0]
    elif body.get("user") is not None and not _blank(body.get("user")):  # "" is no user, as OpenAI reads it
        user, source = _clean(body.get("user"), "user"), "user"
    else:
        user, source = None, "none"
    session_header = _header(headers, config.session_headers)
    if session_header is not None:
        session = _clean(session_header[1], session_header[0])
    else:
        metadata = body.get("metadata")
        session = None
        if isinstance(metadata, Mapping):
            for key in SESSION_KEYS:
                if metadata.get(key) is not None:
                    session = _clean(metadata[key], f"metadata.{key}")
                    break
    return Identity(user, session, source)


def upstream_body(body: Mapping[str, Any], identity: Identity | None = None) -> dict[str, Any]:
    """``body`` without memoryd's own metadata keys (and without ``metadata`` if that empties it),
    each end-user field it sent (not ``null``) the bound user if ``identity`` is a user-bound key's."""
    out = dict(body)
    bound = identity.user_id if identity is not None and identity.bound else None
    for name in IDENTITY_FIELDS:
        if bound is not None and out.get(name) is not None:
            out[name] = bound
    metadata = out.get("metadata")
    if not isinstance(metadata, Mapping):
        return out
    rest = {k: v for k, v in metadata.items() if k not in SESSION_KEYS}
    if bound is not None and rest.get("user_id") is not None:
        rest["user_id"] = bound
    if rest:
        out["metadata"] = rest
    elif any(key in metadata for key in SESSION_KEYS):
        del out["metadata"]
    return out


def end_user(body: Mapping[str, Any]) -> str | None:
    """The end user an upstream ``body`` names, for a wire with one end-user field (Anthropic's
    ``metadata.user_id``): its ``user``, else ``safety_identifier``, else ``metadata.user_id``;
    ``None`` if none is a string."""
    metadata = body.get("metadata")
    named = [body.get(name) for name in IDENTITY_FIELDS]
    named.append(metadata.get("user_id") if isinstance(metadata, Mapping) else None)
    return next((value for value in named if isinstance(value, str)), None)


def safety_identifier(value: Any) -> Any:
    """``value`` as OpenAI's ``safety_identifier`` takes it: a string longer than
    :data:`SAFETY_ID_CHARS` as its SHA-256 hex digest (64 characters, the same for the same user:
    OpenAI's own advice is to hash the id), anything else as it is."""
    if isinstance(value, str) and len(value) > SAFETY_ID_CHARS:
        return hashlib.sha256(value.encode("utf-8")).hexdigest()
    return value
