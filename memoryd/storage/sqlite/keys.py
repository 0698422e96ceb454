"""The API key store on SQLite: one small file shared by the CLI and the server.

Kept apart from the memory database on purpose: keys span tenants, and each
tenant's memories live in a file of their own.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from memoryd.auth.keys import ApiKey
from memoryd.auth.principal import Role
from memoryd.errors import StorageError
from memoryd.storage.sqlite.database import private_file
from memoryd.storage.sqlite.wal_guard import WalGuard

__all__ = ["SQLiteKeyStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    tenant TEXT NOT NULL,
    user_id TEXT,
    name TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    salt BLOB NOT NULL,
    digest BLOB NOT NULL
)
"""
_COLUMNS = "id, role, tenant, user_id, name, created_at, revoked_at, salt, digest"


def _row(row: tuple[Any, ...]) -> ApiKey:
    key_id, role, tenant, user_id, name, created, revoked, salt, digest = row
    return ApiKey(
        str(key_id),
        Role(str(role)),
        str(tenant),
        None if user_id is None else str(user_id),
        None if name is None else str(name),
        datetime.fromisoformat(str(created)),
        None if revoked is None else datetime.fromisoformat(str(revoked)),
        bytes(salt),
        bytes(digest),
    )


def _file_id(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` names now (device, inode); None when there is none."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


class SQLiteKeyStore:
    """API keys in ``path`` (created when missing). Thread-safe.

    A file deleted or replaced under a running server (an operator's way back to open mode,
    or a restored backup) is noticed at the next call, which opens the one ``path`` names
    now: a connection held open would go on reading the deleted file, refusing every key
    made since.

    Its writes, and the checkpoints they and a closing connection run, hold the WAL-reset guard
    (:mod:`memoryd.storage.sqlite.wal_guard`): the CLI and a server write one file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._guard = WalGuard(self.path)
        self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        try:
            private_file(self.path)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10, isolation_level=None)
            with self._guard.held():
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            msg = f"cannot open the API key store {self.path}: {exc}"
            raise StorageError(msg, field="auth.keys_path") from exc
        self._file = _file_id(self.path)
        return conn

    def _run(self, sql: str, args: tuple[Any, ...] = (), *, write: bool = False) -> list[tuple[Any, ...]]:
        with self._lock:
            if _file_id(self.path) != self._file:  # deleted or replaced since it was opened
                self._close()
                self._conn = self._connect()
            try:
                if not write:
                    return self._conn.execute(sql, args).fetchall()
                with self._guard.held():  # its commit, and the checkpoint one may run after it
                    return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"API key store {self.path}: {exc}") from exc

    def _close(self) -> None:
        with self._guard.held():  # the last connection to a file checkpoints it as it closes
            self._conn.close()

    def add(self, record: ApiKey) -> None:
        self._run(
            f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.role.value,
                record.tenant,
                record.user_id,
                record.name,
                record.created_at.isoformat(),
                record.revoked_at.isoformat() if record.revoked_at else None,
                record.salt,
                record.digest,
            ),
            write=True,
        )

    def get(self, key_id: str) -> ApiKey | None:
        rows = self._run(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
        return _row(rows[0]) if rows else None

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self._run(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY created_at, id")
        return [_row(r) for r in rows]

    def revoke(self, key_id: str, now: datetime) -> ApiKey | None:
        self._run(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now.isoformat(), key_id),
            write=True,
        )
        return self.get(key_id)

    def count(self, *, include_revoked: bool = False) -> int:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        return int(self._run(f"SELECT COUNT(*) FROM api_keys{where}")[0][0])

    def close(self) -> None:
        with self._lock:
            self._close()
            self._guard.close()
