"""Managing API keys: what ``memoryd keys`` and ``/v1/admin/keys`` both call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memoryd.auth.keys import PREFIX, ApiKey, KeyStore, NewKey, new_key
from memoryd.auth.principal import Role
from memoryd.config import DEFAULT_TENANT, Settings
from memoryd.errors import NotFoundError
from memoryd.models import utcnow

__all__ = ["Revocation", "create_key", "key_id_of", "open_key_store", "revocation", "revoke_key"]


def open_key_store(settings: Settings) -> KeyStore:
    """The key store the settings name (``auth.keys_path``); the CLI and server share it."""
    from memoryd.storage.sqlite.keys import SQLiteKeyStore

    return SQLiteKeyStore(settings.keys_path())


def create_key(
    store: KeyStore,
    role: Role | str,
    *,
    tenant: str = DEFAULT_TENANT,
    user_id: str | None = None,
    name: str | None = None,
) -> NewKey:
    """Create and store a key; the returned :class:`NewKey` is the only copy of its text."""
    created = new_key(role, tenant=tenant, user_id=user_id, name=name, now=utcnow())
    store.add(created.record)
    return created


def key_id_of(named: str) -> str:
    """The id a revoke names: ``named`` itself, or, when it is a key's full text
    (``mdk_<id>_<secret>``: a leaked key, pasted as found), its id. The secret is dropped, never
    echoed in a "no API key with id …" error (a terminal, a CI log, an HTTP error body)."""
    text = named.strip()
    if text.startswith(f"{PREFIX}_"):
        return text[len(PREFIX) + 1 :].split("_", 1)[0]
    return named


@dataclass(frozen=True, slots=True)
class Revocation:
    """What a revoke did: ``key`` as it now is; ``already``: it was revoked before (at
    ``key.revoked_at``, left as it was), so this revoke changed nothing."""

    key: ApiKey
    already: bool

    @property
    def message(self) -> str:
        """What the CLI says: "revoked key X", or "key X was already revoked (at …)"."""
        if self.already and self.key.revoked_at is not None:
            when = self.key.revoked_at.isoformat(timespec="seconds")
            return f"key {self.key.id} was already revoked (at {when})"
        return f"revoked key {self.key.id}"

    def to_dict(self) -> dict[str, Any]:
        """The key's record, ``already_revoked``, and (when it was) the ``message`` saying so."""
        body: dict[str, Any] = {**self.key.to_dict(), "already_revoked": self.already}
        if self.already:
            body["message"] = self.message
        return body


def revocation(store: KeyStore, key_id: str) -> Revocation:
    """Revoke a key at once (a running server refuses it from its next request on), saying whether
    it already was (a second revoke keeps the first's time). ``key_id`` may be the key's full text
    (:func:`key_id_of`)."""
    key_id = key_id_of(key_id)
    now = utcnow()
    revoked = store.revoke(key_id, now)
    if revoked is None:
        raise NotFoundError(f"no API key with id {key_id!r}", field="key_id")
    return Revocation(revoked, already=revoked.revoked_at != now)


def revoke_key(store: KeyStore, key_id: str) -> ApiKey:
    """As :func:`revocation`: the key as it now is."""
    return revocation(store, key_id).key
