"""Who is calling: the role and reach of the API key a request came with.

- ``admin``: everything, in any tenant (chosen per request with ``X-Memoryd-Tenant``).
- ``service``: any user's memories, within its own tenant.
- ``user``: bound to one ``user_id`` in its tenant; every read and write is forced
  to that user whatever the request says.

With authentication off (loopback, no keys) the caller is :data:`ANONYMOUS`, an
admin of the default tenant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from memoryd.config import DEFAULT_TENANT
from memoryd.errors import InvalidInputError

__all__ = ["ANONYMOUS", "Principal", "Role", "check_tenant"]

_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class Role(StrEnum):
    ADMIN = "admin"
    SERVICE = "service"
    USER = "user"


def check_tenant(value: object, field_name: str = "tenant") -> str:
    """A tenant name: 1-64 letters, digits, ``_`` or ``-``, starting with a letter or digit."""
    if not isinstance(value, str) or not _TENANT.fullmatch(value):
        raise InvalidInputError(
            f"{field_name} must be 1-64 letters, digits, '_' or '-' (starting with a letter or digit)",
            field=field_name,
        )
    return value


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request."""

    role: Role
    tenant: str = DEFAULT_TENANT
    user_id: str | None = None  # set for role user: the only user it may touch
    key_id: str | None = None  # None when authentication is off

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def in_tenant(self, tenant: str) -> Principal:
        """The same caller acting in ``tenant`` (only admins may change tenant)."""
        return replace(self, tenant=tenant)


ANONYMOUS = Principal(Role.ADMIN)
