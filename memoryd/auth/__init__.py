"""Access control: API keys, roles, the caller of a request, rate limits.

- :mod:`.keys` — key format, salted hashes, the :class:`KeyStore` role;
- :mod:`.principal` — :class:`Principal` (role, tenant, bound user) and :class:`Role`;
- :mod:`.admin` — create, list and revoke keys (the CLI and the admin API);
- :mod:`.bound` — the memory as a user-bound key sees it;
- :mod:`.ratelimit` — per-key token buckets.

Tenants are stores of their own (:mod:`memoryd.tenancy`); the HTTP side is
:mod:`memoryd.server.auth`.
"""

from memoryd.auth.admin import create_key, open_key_store, revoke_key
from memoryd.auth.keys import ApiKey, KeyStore, NewKey
from memoryd.auth.principal import ANONYMOUS, Principal, Role, check_tenant

__all__ = [
    "ANONYMOUS",
    "ApiKey",
    "KeyStore",
    "NewKey",
    "Principal",
    "Role",
    "check_tenant",
    "create_key",
    "open_key_store",
    "revoke_key",
]
