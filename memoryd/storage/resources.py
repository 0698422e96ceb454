"""Resources that several backends share, built lazily from the settings.

The three embedded roles (records, vectors, keywords) live in one SQLite file
and share one :class:`SQLiteDatabase`, so they can join one transaction. The record
store is built once too: a role in another engine (the FalkorDB graph) joins its
transaction and checks itself against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memoryd.config import Settings

if TYPE_CHECKING:
    from memoryd.storage.base import RecordStore
    from memoryd.storage.sqlite.database import SQLiteDatabase

__all__ = ["Resources"]


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._shared: dict[str, Any] = {}

    def sqlite(self) -> SQLiteDatabase:
        if "sqlite" not in self._shared:
            from memoryd.storage.sqlite.database import SQLiteDatabase

            cfg = self.settings.storage
            self._shared["sqlite"] = SQLiteDatabase(
                cfg.path, read_threads=cfg.read_threads, synchronous=cfg.synchronous
            )
        return self._shared["sqlite"]  # type: ignore[no-any-return]

    def records(self) -> RecordStore:
        """The store's record store (``storage.records``), one per store."""
        if "records" not in self._shared:
            from memoryd.registry import resolve

            self._shared["records"] = resolve("records", self.settings.storage.records).from_resources(self)
        return self._shared["records"]  # type: ignore[no-any-return]
