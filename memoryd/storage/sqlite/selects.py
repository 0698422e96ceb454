"""Answers of ``select_ids`` kept until a write could change them.

``context()`` asks the same few questions of every call — a user's profile,
their preferences, what the assistant learned about itself — and the answers
change rarely (a chat's turns are episodes, which none of these filters match).
Each answer is kept with its scope and filter; when a commit lands, an answer
is dropped if a changed memory is in it, or is now in its scope and matches its
filter (:func:`memoryd.filters.matches`, the reference the SQL filters are
tested against), or if a memory in it was deleted. Answers are indexed by the
scope values they ask about, so a commit only looks at those of the owners it
touched. A write by another process drops the answers about the scope values it
touched (:mod:`memoryd.storage.sqlite.changes`); an answer read while a commit was
landing is not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from memoryd.filters import Filter, matches
from memoryd.models import MemoryRecord, Scope
from memoryd.storage.sqlite import changes
from memoryd.storage.sqlite.changes import Foreign
from memoryd.storage.sqlite.freshness import Freshness

__all__ = ["SelectCache", "SelectKey"]

SelectKey = tuple[str | None, str | None, str | None, str, bool, int]
_FIELDS = ("user_id", "agent_id", "run_id")
MAX_KEPT_IDS = 2000  # a larger answer (a broad filter over a big scope) is read again each time


@dataclass(frozen=True, slots=True)
class _Answer:
    scope: Scope
    where: Filter | None
    include_expired: bool
    ids: tuple[str, ...]
    members: frozenset[str]


class SelectCache:
    """Recent ``select_ids`` answers, at most ``size``, dropped by the writes that touch them."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._answers: OrderedDict[SelectKey, _Answer] = OrderedDict()
        self._by_value: dict[tuple[str, str], set[SelectKey]] = {}
        self._by_digest: dict[str, set[SelectKey]] = {}  # the same, as the change log names them
        self._lock = threading.Lock()
        self._fresh = Freshness()

    @staticmethod
    def key(scope: Scope, where: Filter | None, include_expired: bool, cap: int) -> SelectKey:
        return (scope.user_id, scope.agent_id, scope.run_id, repr(where), include_expired, cap)

    def lookup(self, key: SelectKey) -> tuple[list[str] | None, int]:
        """(the kept answer or None, version to pass to :meth:`store`)."""
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                return None, self._fresh.version
            self._answers.move_to_end(key)
            return list(answer.ids), self._fresh.version

    def store(
        self,
        key: SelectKey,
        scope: Scope,
        where: Filter | None,
        include_expired: bool,
        ids: Sequence[str],
        version: int,
    ) -> None:
        if self.size <= 0 or scope.is_empty or len(ids) > MAX_KEPT_IDS:
            return
        with self._lock:
            if version != self._fresh.version:
                return  # a commit landed, or another process wrote, while this was read
            self._answers[key] = _Answer(scope, where, include_expired, tuple(ids), frozenset(ids))
            for field, value in scope.items():
                self._by_value.setdefault((field, value), set()).add(key)
                self._by_digest.setdefault(changes.key(field, value), set()).add(key)
            while len(self._answers) > self.size:
                self._drop(next(iter(self._answers)))

    def forget(self, changed: Sequence[MemoryRecord], deleted: Sequence[str]) -> None:
        """A commit landed: drop every answer it may have changed."""
        with self._lock:
            self._fresh.bump()
            if not self._answers:
                return
            stale: set[SelectKey] = set()
            for memory in changed:
                for field in _FIELDS:
                    value = getattr(memory, field)
                    for key in self._by_value.get((field, value), ()) if value is not None else ():
                        if key not in stale and self._affected(self._answers[key], memory):
                            stale.add(key)
            if deleted:
                gone = set(deleted)
                stale.update(k for k, a in self._answers.items() if not gone.isdisjoint(a.members))
            for key in stale:
                self._drop(key)

    def foreign(self, changed: Foreign | None) -> None:
        """Another process committed: drop the answers about the scope values it touched (every
        memory in an answer's scope holds each of the scope's values, so one suffices)."""
        with self._lock:
            self._fresh.bump()
            if changed is None:
                self._clear()
                return
            for value in changed.scopes:
                for key in list(self._by_digest.get(value, ())):
                    self._drop(key)

    @staticmethod
    def _affected(answer: _Answer, memory: MemoryRecord) -> bool:
        if memory.id in answer.members:
            return True
        if not answer.scope.contains(memory):
            return False
        return (answer.include_expired or memory.is_current) and matches(memory, answer.where)

    def clear(self) -> None:
        with self._lock:
            self._fresh.bump()
            self._clear()

    def _clear(self) -> None:
        self._answers.clear()
        self._by_value.clear()
        self._by_digest.clear()

    def _drop(self, key: SelectKey) -> None:
        answer = self._answers.pop(key, None)
        if answer is None:
            return
        for field, value in answer.scope.items():
            keys = self._by_value.get((field, value))
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_value[(field, value)]
            digest = changes.key(field, value)
            keys = self._by_digest.get(digest)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_digest[digest]
