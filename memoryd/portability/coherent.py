"""What an export leaves out so that its file imports into a store that checks clean.

A line naming what the file does not hold is refused by the import (its survey:
:mod:`memoryd.portability.references`), and would be damage in the new store if it were not.
The export writes only what hangs together, a page at a time, each page read in the export's
snapshot of the store:

- a history row of a memory the file holds, or of one whose history records its deletion
  (``DELETE``); not of a memory that is gone otherwise (its row deleted by hand or lost) nor of
  one left out (unreadable, ``skip_unreadable``);
- a hierarchy turn of a memory the file holds, in a segment the file holds (or short-term); a
  segment that held turns left out counts only those it keeps (left with none, it goes), and one
  whose count disagrees with the turns it holds (a turn's row lost) counts those it holds;
- a relation whose two entities the file holds, asserted by memories the file holds: the
  assertions of other memories go, and a relation left with none goes;
- a memory's index only when its vector is the model's size, finite and of unit length (with
  its keyword terms): else the memory is written without it, and the import embeds it again.

What goes is damage ``memoryd check`` reports in the store exported. Without ``skip_unreadable``
the export stops at the first such row, naming it and ``--skip-unreadable``; with it, the rows
are left out and counted per kind (:class:`LeftOut`). An index left out (a vector missing or
damaged) never stops an export: nothing of the memory is lost, the import embeds it again.

A graph in another engine cannot join the snapshot: what it asserts for memories the snapshot
does not hold, or names of entities read after their page (written meanwhile), is not damage.
It is left out without being counted (see :mod:`memoryd.portability.export`).

Memory held: the ids of the entities written (a relation is checked against them), the ids of
the turns left out and a count per segment that held some; everything else a page at a time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from memoryd.errors import StorageError
from memoryd.hierarchy.models import Segment, owner_key
from memoryd.ingest.derived import owner_scope
from memoryd.models import Event, MemoryKind, MemoryRecord, Scope
from memoryd.storage import HistoryDraft, RecordStore, SegmentStore
from memoryd.storage.base import StoredTurn
from memoryd.storage.portable import EntityRow, RelationRow

__all__ = ["KINDS", "Coherence", "LeftOut", "asserted", "sound"]

KINDS = {  # what is counted, in the summary's order, and how one says it
    "history": ("history row", "history rows"),
    "tier_turn": ("hierarchy turn", "hierarchy turns"),
    "tier_segment": ("segment", "segments"),
    "relation": ("relation", "relations"),
    "mention": ("assertion of a relation", "assertions of relations"),
    "index": ("memory without its vector and terms", "memories without their vectors and terms"),
}
SKIP = (
    "`memoryd export --skip-unreadable` writes everything else, leaving out what names what is gone "
    "(counted in its summary), so the file imports into a new store that checks clean"
)


def sound(vector: np.ndarray | None, dim: int) -> bool:
    """A vector an index can hold as it is (as ``memoryd check`` wants it): ``dim`` finite
    numbers, unit length."""
    if vector is None or vector.shape != (dim,):
        return False
    with np.errstate(all="ignore"):
        norm = float(np.linalg.norm(vector))
    return bool(np.isfinite(vector).all()) and abs(norm - 1.0) < 1e-3


@dataclass
class LeftOut:
    """What the export left out, per kind (:data:`KINDS`); ``skip``: damage is left out and
    counted (``skip_unreadable``), else it stops the export."""

    skip: bool
    counts: Counter[str] = field(default_factory=Counter)

    def damage(self, kind: str, count: int, what: str) -> None:
        """``count`` rows of ``kind`` name what is gone; ``what`` says so of the first."""
        if not count:
            return
        self.refuse(what)
        self.counts[kind] += count

    def refuse(self, what: str) -> None:
        """Stop the export at damage ``what`` says, unless ``skip`` (the caller then writes it mended)."""
        if not self.skip:
            raise StorageError(
                f"{what}: damage `memoryd check` reports, which an export cannot carry (the import "
                f"would refuse it); {SKIP}",
                field="storage.path",
            )

    def note(self, kind: str, count: int = 1) -> None:
        """Counted, never refused (an index: the import embeds the memory again)."""
        self.counts[kind] += count


@dataclass
class Coherence:
    """The page filters of one export: ``left_out`` the memories not written (unreadable);
    ``outside`` whether the graph is read outside the snapshot."""

    records: RecordStore
    scope: Scope
    left_out: set[str]
    tally: LeftOut
    outside: bool
    entities: set[str] = field(default_factory=set)  # written: a relation must name two of them
    turns_out: set[str] = field(default_factory=set)  # turns (memory ids) left out
    lost: Counter[str] = field(default_factory=Counter)  # turns left out per segment
    holds: Counter[tuple[str, str]] = field(default_factory=Counter)  # turns written per segment and owner
    written: set[tuple[str, str]] = field(default_factory=set)  # segments written (id, owner): a turn's

    async def _held(self, ids: set[str]) -> set[str]:
        wanted = [i for i in ids if i not in self.left_out]
        return await self.records.held(wanted, scope=self.scope) if wanted else set()

    async def history(self, rows: list[HistoryDraft]) -> list[HistoryDraft]:
        """History of memories written, or deleted (their ``DELETE`` in the store's history)."""
        deleting = {h.memory_id for h in rows if h.event is Event.DELETE}
        named = {h.memory_id for h in rows} - deleting
        missing = named - self.left_out - await self._held(named)
        gone = {m for m in sorted(missing) if not await self._deleted(m)}
        kept = [h for h in rows if h.memory_id not in self.left_out and h.memory_id not in gone]
        if gone:
            what = f"history of memory {min(gone)!r}, which the store neither holds nor records as deleted"
            self.tally.damage("history", sum(h.memory_id in gone for h in rows), what)
        self.tally.counts["history"] += sum(h.memory_id in self.left_out for h in rows)
        return kept

    async def _deleted(self, memory_id: str) -> bool:
        return any(h.event is Event.DELETE for h in await self.records.history(memory_id))

    async def survey_turns(self, tiers: SegmentStore, page_size: int) -> None:
        """A pass over the turns: those whose memory is not written, and how many of them each
        segment held (its count is lowered by as many)."""
        cursor: str | None = None
        damaged: list[str] = []  # what is wrong with each turn of the store's damage
        while True:
            rows, cursor = await tiers.scan_turns(self.scope, after=cursor, limit=page_size)
            held = await self._held({t.memory_id for t in rows})
            found = await self.records.get_many(sorted(held), shared=True) if held else {}
            for t in rows:
                why = _misfit(t, found[t.memory_id]) if t.memory_id in found else None
                if why is None and t.memory_id in held:
                    if t.segment_id is not None:
                        self.holds[t.segment_id, t.owner] += 1
                    continue
                if why is not None or t.memory_id not in self.left_out:
                    why = why or "which the store does not hold"
                    damaged.append(f"a hierarchy turn of memory {t.memory_id!r}, {why}")
                self.turns_out.add(t.memory_id)
                if t.segment_id is not None:
                    self.lost[t.segment_id] += 1
            if cursor is None:
                break
        if damaged:
            self.tally.damage("tier_turn", len(damaged), damaged[0])
        self.tally.counts["tier_turn"] += len(self.turns_out) - len(damaged)

    async def segments(self, rows: list[Segment]) -> list[Segment]:
        """A segment counting only the turns written (its keywords, label and centroid as they
        were); left with none, it goes. One whose count disagrees with the turns it holds is
        damage (written counting the turns it holds; holding none, left out)."""
        out = []
        for s in rows:
            lost, holds = self.lost.get(s.id, 0), self.holds.get((s.id, s.owner), 0)
            if s.turns != holds + lost or not s.turns:  # a turn's row lost, its count damaged, or
                # turns of another owner in it (a turn written in it must be of its owner)
                what = f"segment {s.id!r} counts {s.turns} turns and holds {holds + lost} of its owner"
                self.tally.refuse(what)
            if holds:
                out.append(s if holds == s.turns else replace(s, turns=holds))
                self.written.add((s.id, s.owner))
            else:  # every turn it held is left out, or it holds none
                self.tally.counts["tier_segment"] += 1
        return out

    async def turns(self, rows: list[StoredTurn]) -> list[StoredTurn]:
        """The turns of memories written, in segments written (or short-term)."""
        kept = [t for t in rows if t.memory_id not in self.turns_out]
        nowhere = [t for t in kept if t.segment_id and (t.segment_id, t.owner) not in self.written]
        if nowhere:
            what = (
                f"a hierarchy turn of memory {nowhere[0].memory_id!r} is in segment "
                f"{nowhere[0].segment_id!r}, which the store does not hold (or not of the turn's owner)"
            )
            self.tally.damage("tier_turn", len(nowhere), what)
            kept = [t for t in kept if t not in nowhere]
        return kept

    async def entities_written(self, rows: list[EntityRow]) -> list[EntityRow]:
        self.entities.update(e.id for e in rows)
        return rows

    async def relations(self, rows: list[RelationRow]) -> list[RelationRow]:
        """Relations whose entities are written, without the assertions of memories not written
        (the first one still asserting it becomes its memory, as the graph does when one is
        deleted); a relation asserted by none of them goes."""
        named = {m.memory_id for r in rows for m in r.mentions}
        missing = named - self.left_out - await self._held(named)
        counted = self.left_out if self.outside else self.left_out | missing
        out = []
        for r in rows:
            ends = [e for e in (r.source_id, r.target_id) if e not in self.entities]
            if ends:
                if not self.outside:  # the graph's own damage; outside, a write read half-way
                    what = f"relation {r.id!r} names entity {ends[0]!r}, which the graph does not hold"
                    self.tally.damage("relation", 1, what)
                continue
            kept = asserted(counted, r)
            if kept is not r:
                lost = len(r.mentions) - (0 if kept is None else len(kept.mentions))
                kind, count = ("relation", 1) if kept is None else ("mention", lost)
                gone = [m.memory_id for m in r.mentions if m.memory_id in counted and m.memory_id in missing]
                if gone:
                    what = f"relation {r.id!r} is asserted by memory {gone[0]!r}, which the store lacks"
                    self.tally.damage(kind, count, what)
                else:  # only by memories left out (unreadable)
                    self.tally.counts[kind] += count
            if kept is not None and self.outside and missing:
                kept = asserted(missing, kept)
            if kept is not None:
                out.append(kept)
        return out


def asserted(left_out: set[str], r: RelationRow) -> RelationRow | None:
    """A relation without the mentions of memories left out; none left: the relation goes. Its
    memory is then the first one still asserting it (as the graph does when one is deleted)."""
    mentions = tuple(m for m in r.mentions if m.memory_id not in left_out)
    if len(mentions) == len(r.mentions):
        return r
    if not mentions:
        return None
    first = r if r.memory_id not in left_out else mentions[0]
    return replace(r, mentions=mentions, memory_id=first.memory_id, run_id=first.run_id)


def _misfit(t: StoredTurn, m: MemoryRecord) -> str | None:
    """Why ``m`` cannot be the memory of turn ``t`` (as ``memoryd check`` and the import see it)."""
    if m.kind is not MemoryKind.EPISODE:
        return "which is not an episode"
    if not m.is_current:
        return "which is not current"
    if t.owner != owner_key(owner_scope(m.scope)) or (t.user_id, t.agent_id, t.run_id) != (
        m.user_id, m.agent_id, m.run_id,
    ):  # fmt: skip
        return "whose owner or session is not the turn's"
    return None
