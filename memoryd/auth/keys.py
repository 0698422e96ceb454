"""API keys: their format, how they are hashed, and the store that keeps them.

A key reads ``mdk_<id>_<secret>``: the 12-hex-digit ``id`` is public (it names the
key in listings and logs); the secret is 256 random bits. The store keeps only a
per-key random salt and ``SHA-256(salt || secret)``: a leaked store reveals no key,
and the full key is shown once, when it is created. (A slow password hash buys
nothing here: the secret is random, not chosen by a person.)

:class:`KeyStore` is the storage role; :mod:`memoryd.storage.sqlite.keys` is the
embedded implementation, a small SQLite file that the CLI and a running server
share (``auth.keys_path``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from memoryd.auth.principal import Principal, Role, check_tenant
from memoryd.errors import AuthenticationError, InvalidInputError
from memoryd.models import Scope

__all__ = ["PREFIX", "ApiKey", "KeyStore", "NewKey", "hash_secret", "new_key", "parse_key"]

PREFIX = "mdk"
_ID_HEX = 12


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One stored key (never its secret)."""

    id: str
    role: Role
    tenant: str
    user_id: str | None
    name: str | None
    created_at: datetime
    revoked_at: datetime | None = None
    salt: bytes = b""
    digest: bytes = b""

    @property
    def active(self) -> bool:
        """Not revoked, and whole: a ``user`` key names its user. One whose row lost it (memoryd
        never makes one) would be bound to no one: its tenant's every user, a service key in all
        but name."""
        return self.revoked_at is None and (self.role is not Role.USER or self.user_id is not None)

    def principal(self) -> Principal:
        return Principal(self.role, self.tenant, self.user_id if self.role is Role.USER else None, self.id)

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(hash_secret(self.salt, secret), self.digest)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role.value,
            "tenant": self.tenant,
            "user_id": self.user_id,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created: the only time its full text exists."""

    key: str
    record: ApiKey

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, **self.record.to_dict()}


def hash_secret(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("utf-8")).digest()


def new_key(role: Role | str, *, tenant: str, user_id: str | None, name: str | None, now: datetime) -> NewKey:
    """A fresh key for ``role``; ``user_id`` is required for (and only for) role ``user``."""
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInputError("role must be admin, service or user", field="role") from None
    check_tenant(tenant)
    if role is Role.USER and not (isinstance(user_id, str) and user_id.strip()):
        raise InvalidInputError("a user key needs the user_id it is bound to", field="user_id")
    if role is Role.USER:
        Scope(user_id=user_id)  # one no memory may have (a tab, 600 characters): not a key every call refuses
    if role is not Role.USER and user_id is not None:
        raise InvalidInputError("only a user key is bound to a user_id", field="user_id")
    name = _key_name(name)
    key_id = secrets.token_hex(_ID_HEX // 2)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    record = ApiKey(key_id, role, tenant, user_id, name, now, None, salt, hash_secret(salt, secret))
    return NewKey(f"{PREFIX}_{key_id}_{secret}", record)


MAX_NAME = 200  # characters of a key's name (its note)


def _key_name(name: str | None) -> str | None:
    """A key's name as kept: blank is none; one no table shows as written (a control character) or
    over :data:`MAX_NAME` characters is refused, by the CLI as over HTTP."""
    if name is None or not name.strip():
        return None
    if len(name) > MAX_NAME:
        raise InvalidInputError(
            f"name is {len(name)} characters; at most {MAX_NAME} are allowed", field="name"
        )
    if bad := next((c for c in name if ord(c) < 32 or 0x7F <= ord(c) < 0xA0), None):
        raise InvalidInputError(f"name holds a control character ({bad!r})", field="name")
    return name


def parse_key(text: str) -> tuple[str, str]:
    """``(id, secret)`` of a key's text; :class:`AuthenticationError` if it is not one."""
    parts = text.strip().split("_", 2)
    if (
        len(parts) != 3
        or parts[0] != PREFIX
        or len(parts[1]) != _ID_HEX
        or any(c not in "0123456789abcdef" for c in parts[1])
        or not parts[2]
    ):
        raise AuthenticationError(
            "the API key is malformed: memoryd API keys look like mdk_<id>_<secret> "
            "(`memoryd keys create --role service` makes one)"
        )
    return parts[1], parts[2]


@runtime_checkable
class KeyStore(Protocol):
    """Where API keys live. Synchronous and quick: the server calls it from a thread."""

    def add(self, record: ApiKey) -> None: ...
    def get(self, key_id: str) -> ApiKey | None: ...
    def list(self, *, include_revoked: bool = False) -> list[ApiKey]: ...
    def revoke(self, key_id: str, now: datetime) -> ApiKey | None:
        """Revoke the key; ``None`` if there is no such key."""
        ...

    def count(self, *, include_revoked: bool = False) -> int:
        """How many keys are active (or were ever created, revoked ones included)."""
        ...

    def close(self) -> None: ...
