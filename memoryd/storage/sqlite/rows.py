"""Row bookkeeping shared by the in-memory partitions: ids, scope, validity, top-k.

A partition stores one slot per memory version. Slots are append-only; a
deleted memory's slot is marked absent, and ``live`` marks the current
(not superseded) memories that plain searches consider.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from memoryd.models import MemoryRecord, Scope

__all__ = ["RowStub", "Rows", "grow"]

_FIELDS = ("user_id", "agent_id", "run_id")


def grow(array: np.ndarray, size: int) -> np.ndarray:
    """Return ``array`` with room for at least ``size`` rows (doubling)."""
    if size <= array.shape[0]:
        return array
    cap = max(64, array.shape[0] * 2, size)
    out = np.zeros((cap, *array.shape[1:]), dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


class Rows:
    """Slots of one partition: which memory, which scope, whether live."""

    def __init__(self) -> None:
        self.n = 0
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}
        self.live = np.zeros(0, dtype=bool)
        self.present = np.zeros(0, dtype=bool)
        self._codes = {f: np.zeros(0, dtype=np.int32) for f in _FIELDS}
        self._vocab: dict[str | None, int] = {None: 0}

    def _code(self, value: str | None) -> int:
        code = self._vocab.get(value)
        if code is None:
            code = self._vocab[value] = len(self._vocab)
        return code

    def new_slot(self, memory: MemoryRecord) -> int:
        """Append a slot for ``memory`` (an older slot of the same id is retired)."""
        old = self.pos.get(memory.id)
        if old is not None:
            self.present[old] = self.live[old] = False
        i = self.n
        self.n += 1
        self.live = grow(self.live, self.n)
        self.present = grow(self.present, self.n)
        for f in _FIELDS:
            self._codes[f] = grow(self._codes[f], self.n)
        self.ids.append(memory.id)
        self.pos[memory.id] = i
        self.update(i, memory)
        return i

    def extend(self, memories: Sequence[MemoryRecord]) -> int:
        """:meth:`new_slot` for each of ``memories``, in order, at once (a partition's load, tens of
        thousands of rows: one array write per field, not one per row); returns the first's slot."""
        start = self.n
        ids = [m.id for m in memories]
        if len(set(ids)) < len(ids) or not self.pos.keys().isdisjoint(ids):  # slots to retire: one by one
            for memory in memories:
                self.new_slot(memory)
            return start
        end = start + len(ids)
        self.live = grow(self.live, end)
        self.present = grow(self.present, end)
        for f in _FIELDS:
            self._codes[f] = grow(self._codes[f], end)
            self._codes[f][start:end] = [self._code(getattr(m, f)) for m in memories]
        self.present[start:end] = True
        self.live[start:end] = [m.valid_to is None for m in memories]
        self.ids.extend(ids)
        self.pos.update(zip(ids, range(start, end), strict=True))
        self.n = end
        return start

    def update(self, i: int, memory: MemoryRecord) -> None:
        for f in _FIELDS:
            self._codes[f][i] = self._code(getattr(memory, f))
        self.present[i] = True
        self.live[i] = memory.valid_to is None

    def drop(self, memory_id: str) -> None:
        i = self.pos.pop(memory_id, None)
        if i is not None:
            self.present[i] = self.live[i] = False

    def mask(self, scope: Scope, allowed: set[str] | None) -> np.ndarray:
        """Slots a search may return: live ones (or exactly ``allowed``) within ``scope``."""
        n = self.n
        if allowed is None:
            keep = self.live[:n].copy()
        else:
            keep = np.zeros(n, dtype=bool)
            rows = [self.pos[i] for i in allowed if i in self.pos]
            if rows:
                keep[np.asarray(rows, dtype=np.int64)] = True
            keep &= self.present[:n]
        for field, value in scope.items():
            code = self._vocab.get(value)
            if code is None:
                return np.zeros(n, dtype=bool)
            keep &= self._codes[field][:n] == code
        return keep

    def select(self, scope: Scope, allowed: set[str]) -> np.ndarray:
        """The slots of ``allowed`` ids present in ``scope`` (a few ids: no full-size mask)."""
        rows = np.fromiter((self.pos[i] for i in allowed if i in self.pos), dtype=np.int64)
        rows = rows[self.present[rows]]
        for field, value in scope.items():
            code = self._vocab.get(value)
            if code is None:
                return rows[:0]
            rows = rows[self._codes[field][rows] == code]
        return np.sort(rows)

    def top(
        self, scores: np.ndarray, keep: np.ndarray, limit: int, rows: Sequence[int] | np.ndarray | None = None
    ) -> list[tuple[str, float]]:
        """Best ``limit`` (id, score) among kept slots, best first; equal scores in memory-id order.

        ``scores``/``keep`` index the slots, or the subset ``rows`` when given. Ties go by id, not
        by slot: an edited memory's slot (BM25 gives it a fresh one) differs from the one a reload
        gives it, and a tie that straddles the cut must keep the same ids whatever ``limit`` is,
        so that a shorter list is the head of a longer one.
        """
        idx = np.flatnonzero(keep)
        if idx.size == 0 or limit <= 0:
            return []
        slot_of = idx if rows is None else np.asarray(rows)[idx]
        vals = scores[idx]
        ids = self.ids
        if idx.size > limit:
            part = np.argpartition(-vals, limit - 1)
            head, rest = part[:limit], part[limit:]
            cut = vals[part[limit - 1]]  # the limit-th best score
            spill = rest[vals[rest] == cut]
            if spill.size:  # the cut splits equal scores: of those, the smallest ids stay
                better = head[vals[head] != cut]
                tied = np.concatenate((head[vals[head] == cut], spill)).tolist()
                chosen = heapq.nsmallest(limit - better.size, tied, key=lambda j: ids[slot_of[j]])
                head = np.concatenate((better, np.asarray(chosen, dtype=np.int64)))
            slot_of, vals = slot_of[head], vals[head]
        order = np.argsort(-vals, kind="stable")
        ranked = vals[order]
        out = [(ids[s], v) for s, v in zip(slot_of[order].tolist(), ranked.tolist(), strict=True)]
        if ranked.size > 1 and bool((ranked[1:] == ranked[:-1]).any()):
            out.sort(key=lambda hit: (-hit[1], hit[0]))
        return out

class RowStub:
    """The few fields a partition needs from a row, without building a MemoryRecord."""

    __slots__ = ("id", "user_id", "agent_id", "run_id", "valid_to")

    def __init__(
        self, id: str, user_id: str | None, agent_id: str | None, run_id: str | None, valid_to: float | None
    ) -> None:
        self.id, self.user_id, self.agent_id, self.run_id, self.valid_to = (
            id,
            user_id,
            agent_id,
            run_id,
            valid_to,
        )
