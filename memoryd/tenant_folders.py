"""The folder of a tenant's files under ``auth.tenants_dir``: named after the tenant, case kept safe.

Tenant names are case-sensitive (``Acme`` and ``acme`` are two tenants); folder names on macOS
and Windows are not, and two folders named ``Acme`` and ``acme`` were one there: the two tenants
shared a store. So an all-lowercase name (the common case) is its folder's name, as it always
was, and a name with capitals gets a suffix: a dot (no tenant name has one) and, in hex, which
of its characters are capitals (bit *i* for the *i*-th): ``Acme`` → ``Acme.1``, ``ACME`` →
``ACME.f``. Names that differ only in case differ in that mask, so no two tenants ever share a
folder, whatever the filesystem folds.

A capitalised tenant's store made before lives in a folder named after the tenant alone:

- where that folder is the tenant's own (a filesystem that tells capitals apart: Linux), it
  keeps being used, as long as the suffixed folder does not exist;
- where the lowercase name reaches the same folder (macOS, Windows), it may hold the memories
  of every spelling of the name, and nothing says whose each is: the tenant is refused with a
  :class:`~memoryd.errors.ConfigError` that names both ways out (move the folder to the suffixed
  name if its memories are this tenant's; or create the suffixed folder, empty, to start this
  tenant anew and leave the old one to the lowercase name). Nothing is moved or guessed.

With ``storage.qdrant.path`` set, a tenant's local Qdrant folder is named after the same folder
name (``<path>-<folder>``): moving a tenant's folder means moving that one too.
"""

from __future__ import annotations

import os
from pathlib import Path

from memoryd.errors import ConfigError

__all__ = ["tenant_folder"]


def tenant_folder(root: Path, tenant: str) -> str:
    """The name of ``tenant``'s folder under ``root`` (``auth.tenants_dir``); ``tenant`` is a
    valid tenant name (ASCII letters, digits, ``_``, ``-``), never the default tenant."""
    mask = sum(1 << i for i, ch in enumerate(tenant) if "A" <= ch <= "Z")
    if not mask:
        return tenant
    name = f"{tenant}.{mask:x}"
    old = root / tenant
    if (root / name).exists() or not old.exists():
        return name
    lower = tenant.lower()
    if not _same(old, root / lower):
        return tenant  # made by the old naming, and this tenant's alone
    raise ConfigError(
        f"tenant {tenant!r}: its store now lives in the folder {name} under auth.tenants_dir, but "
        f"its old folder {tenant} is also the folder of tenant {lower!r} on this filesystem (which "
        "does not tell capitals apart), so it may hold the memories of both: move it to "
        f"{name} if they are those of {tenant!r} ({lower!r} then starts a new store), or create "
        f"{name} empty to give {tenant!r} a new store ({lower!r} keeps the old one)",
        field="auth.tenants_dir",
    )


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # b does not exist
        return False
