"""Recently read memories by id, so a search's record fetch rarely touches SQLite.

Own writes drop what they touch once committed, and so does another process's
commit (:mod:`memoryd.storage.sqlite.changes`); one that touched too many
memories to list them drops those of the scope values it touched, found through
an index of the cached records by scope value. A read that raced
either is not cached (the version it started at has moved).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from memoryd.models import MemoryRecord
from memoryd.storage.sqlite import changes
from memoryd.storage.sqlite.changes import Foreign
from memoryd.storage.sqlite.freshness import Freshness

__all__ = ["RecordCache"]

_FIELDS = ("user_id", "agent_id", "run_id")


def _named(record: MemoryRecord) -> list[str]:
    """The record's scope values as the change log names them."""
    return [changes.key(f, v) for f in _FIELDS if (v := getattr(record, f)) is not None]


class RecordCache:
    """At most ``size`` records, least recently used out first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, MemoryRecord] = OrderedDict()
        self._by_value: dict[str, set[str]] = {}  # by the change log's name of a scope value
        self._lock = threading.Lock()
        self._fresh = Freshness()

    def lookup(
        self, ids: Sequence[str], *, shared: bool = False
    ) -> tuple[dict[str, MemoryRecord], list[str], int]:
        """(cached records, ids to read, version to pass to :meth:`store`); ``shared``: the cached
        records themselves, for a caller that only reads them, else private copies."""
        found: dict[str, MemoryRecord] = {}
        missing: list[str] = []
        with self._lock:
            for i in ids:
                hit = self._items.get(i)
                if hit is None:
                    missing.append(i)
                else:
                    self._items.move_to_end(i)
                    found[i] = hit if shared else hit.detached()
            return found, missing, self._fresh.version

    def store(self, records: dict[str, MemoryRecord], version: int) -> None:
        if self.size <= 0:
            return
        with self._lock:
            if version != self._fresh.version:
                return
            for i, r in records.items():
                self._pop(i)
                self._items[i] = r.detached()
                for value in _named(r):
                    self._by_value.setdefault(value, set()).add(i)
            while len(self._items) > self.size:
                self._pop(next(iter(self._items)))

    def forget(self, ids: Sequence[str]) -> None:
        """An own commit touched these."""
        with self._lock:
            self._fresh.bump()
            for i in ids:
                self._pop(i)

    def foreign(self, changed: Foreign | None) -> None:
        """Another process committed: drop the memories it touched (or, when it did not list
        them, those of the scope values it touched)."""
        if changed is None:
            self.clear()
            return
        with self._lock:
            self._fresh.bump()
            if changed.memory_ids is not None:
                for i in changed.memory_ids:
                    self._pop(i)
                return
            for value in changed.scopes:
                for i in list(self._by_value.get(value, ())):
                    self._pop(i)

    def clear(self) -> None:
        with self._lock:
            self._fresh.bump()
            self._items.clear()
            self._by_value.clear()

    def _pop(self, memory_id: str) -> None:
        record = self._items.pop(memory_id, None)
        if record is None:
            return
        for value in _named(record):
            ids = self._by_value[value]
            ids.discard(memory_id)
            if not ids:
                del self._by_value[value]
