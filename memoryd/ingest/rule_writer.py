"""Fast mode's rule memories, written with an add: what :mod:`memoryd.ingest.rules` drafts from
explicit self-statements ("I live in Porto": the user's home), looked up, embedded and staged
in the add's change set.

:meth:`RuleWriter.start` runs while the model embeds the add's turns: it looks up which drafts
are already known (the owner's, and the user's shared ones for an agent) and asks for the others'
vectors at once, ahead of the add's own batch. :meth:`RuleWriter.finish` stages the new ones
(a NOOP for each known one, the repeating turn added to its sources) and settles the profile: one
current home at a time. A turn already stored, said again (an add's NOOP), is read again only for
what it states that is no longer current, ended before it ("I like coffee", "I hate coffee", "I like
coffee"): said again, it holds again (a new memory that ends what ended it). So does a statement
already current said in an add after another of the add's that ends it ("I like coffee" stored; one
add of "I hate coffee" and "I like coffee"), and a turn of the add said again after such a turn
("I like coffee", "I hate coffee", "I like coffee" in one add): the turns are read in the order
said, so the last said wins, as across adds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from memoryd.embedders.runner import EmbeddingRunner
from memoryd.ingest.fast import SaidAgain, in_order
from memoryd.ingest.places import load_for
from memoryd.ingest.repeats import said_after_an_end
from memoryd.ingest.represent import Represent
from memoryd.ingest.rules import RuleMemory
from memoryd.ingest.speakers import draft_rules
from memoryd.ingest.timelines import said_anew, settle_profile
from memoryd.models import AddResult, Event, MemoryRecord, Scope
from memoryd.storage import ChangeSet, HistoryDraft, Storage, StoredMemory

__all__ = ["RuleWork", "RuleWriter"]


@dataclass
class RuleWork:
    """Rule drafts of one add, which of them are known (by hash), the others' vectors, and the
    positions of those stated anew (:func:`~memoryd.ingest.timelines.said_anew`): new even if known."""

    drafts: list[RuleMemory]
    known: dict[tuple[str, str | None], str]
    vectors: asyncio.Future[np.ndarray] | None
    anew: set[int] = field(default_factory=set)

    def known_as(self, i: int) -> str | None:
        """The id of the stored memory draft ``i`` repeats (a NOOP); None if it is new."""
        return None if i in self.anew else self.known.get((self.drafts[i].memory.hash, None))


async def also_stated_by(records: Any, work: RuleWork) -> list[MemoryRecord]:
    """The known memories a rule draft of this add repeats (a NOOP), each with the repeating turn
    added to its ``source_ids``: deleting one of the turns that state it then leaves it standing."""
    turn_of = {dup: d.episode_id for i, d in enumerate(work.drafts) if (dup := work.known_as(i)) is not None}
    found = await records.get_many(list(turn_of)) if turn_of else {}
    return [
        m.with_changes(source_ids=(*m.source_ids, turn_of[m.id]))
        for m in found.values()
        if turn_of[m.id] not in m.source_ids
    ]


class RuleWriter:
    """Stages the rule memories of an add's new turns (see the module doc)."""

    def __init__(self, storage: Storage, embed: EmbeddingRunner, represent: Represent) -> None:
        self.storage = storage
        self.embed = embed
        self.represent = represent

    async def memories(
        self,
        episodes: list[MemoryRecord],
        now: datetime,
        changes: ChangeSet,
        again: Sequence[SaidAgain] = (),
    ) -> list[AddResult]:
        """The rule memories of ``episodes`` (and ``again``: see :meth:`draft`) staged in
        ``changes``, in one go; one result per draft."""
        work = await self.start(await self.draft(episodes, now, again))
        return await self.finish(work, now, changes) if work is not None else []

    async def draft(
        self, episodes: list[MemoryRecord], now: datetime, again: Sequence[SaidAgain] = ()
    ) -> list[RuleMemory]:
        """The rule drafts of ``episodes``: another named speaker's statements are facts about
        them, not the user's profile (:mod:`memoryd.ingest.speakers`). The turns said ``again``
        (:attr:`~memoryd.ingest.fast.FastPlan.again`) are read with them in the order said, and
        what they state counts only if it no longer holds: ended before it was said again, or by a
        turn of this add said before it."""
        turns = in_order(episodes, again) if again else episodes
        await load_for(m.text for m in turns)  # a move's place names: loaded off the event loop
        if not again:
            return await draft_rules(self.storage.records, episodes, now)
        drafts = await draft_rules(self.storage.records, turns, now)
        new = {e.id for e in episodes}  # a repeat of one of them drafts only if ended in between
        repeats = [d for d in drafts if d.episode_id not in new]
        # a turn whose memories fine mode worded (no stored text is the draft's): read again if
        # one drawn from it ended before it is said again, as fine mode re-extracts it
        # (only turns that draft something: a repeated "thanks" costs no read)
        drafting = {d.episode_id for d in repeats}
        asked = [a for a in again if a.turn.id in drafting]
        reread = {a.turn.id for a in await said_after_an_end(self.storage, again[0].turn.scope, asked)}
        kept = {id(d) for d in await self._ended_before(repeats, reread)}
        anew = said_anew([d.memory for d in drafts])  # after what ends it in this add
        out: list[RuleMemory] = []
        taken: set[str] = set()  # a text drafted twice: ended in between (draft_rule_memories)
        for i, d in enumerate(drafts):
            if d.episode_id in new or id(d) in kept or i in anew or d.memory.hash in taken:
                out.append(d)
            taken.add(d.memory.hash)
        return out

    async def _ended_before(self, drafts: list[RuleMemory], reread: set[str]) -> list[RuleMemory]:
        """Those of ``drafts`` whose text its owner's readers (the user's shared memories and the
        writing agent's own) hold only ended, each end no later than the draft is said; or hold
        not at all, drafted from a turn in ``reread`` (a memory drawn from it ended before)."""
        if not drafts:
            return []
        records = self.storage.records
        first = drafts[0].memory  # one add has one scope
        owner = first.scope if first.user_id is None else Scope(user_id=first.user_id)
        found = await records.get_many(await records.with_hashes(owner, [d.memory.hash for d in drafts]))
        stored: dict[str, list[MemoryRecord]] = {}
        for m in found.values():
            if m.user_id == first.user_id and (m.agent_id is None or m.agent_id == first.agent_id):
                stored.setdefault(m.hash, []).append(m)
        out = []
        for d in drafts:
            ends = [m.valid_to for m in stored.get(d.memory.hash, [])]
            if ends and None not in ends:
                ended = max(e for e in ends if e is not None) <= d.memory.valid_from
            else:  # held, or never stored in the draft's words: read again if its turn is in reread
                ended = not ends and d.episode_id in reread
            if ended:
                out.append(d)
        return out

    async def start(self, drafts: list[RuleMemory]) -> RuleWork | None:
        """Look up which drafts are already known and ask for the others' vectors (at once)."""
        if not drafts:
            return None
        owner = drafts[0].memory.scope  # one add has one scope
        hashes = [d.memory.hash for d in drafts]
        known = await self._known(owner, hashes)
        if owner.user_id is not None and owner.agent_id is not None:  # it reads the user's shared ones
            known = {**await self._known(Scope(owner.user_id), hashes), **known}
        # said after what ends it in this add ("I hate coffee", "I like coffee"): new, even if current
        work = RuleWork(drafts, known, None, said_anew([d.memory for d in drafts]))
        fresh = [d.memory.text for i, d in enumerate(drafts) if work.known_as(i) is None]
        # Urgent: queued behind the add's own episodes they would wait for the whole batch.
        work.vectors = self.embed.soon(fresh, urgent=True) if fresh else None
        return work

    async def _known(self, owner: Scope, hashes: list[str]) -> dict[tuple[str, str | None], str]:
        """(hash, role) -> id of the current memories of exactly ``owner`` with these hashes that
        name no speaker, as the rules' memories do."""
        found = await self.storage.records.find_duplicates(owner, hashes)
        return {(h, role): i for (h, role, actor), i in found.items() if actor is None}

    async def finish(self, work: RuleWork, now: datetime, changes: ChangeSet) -> list[AddResult]:
        """Add the new rule memories to ``changes``; one result per draft (NOOP if known)."""
        vectors = await work.vectors if work.vectors is not None else None
        results: list[AddResult] = []
        row = 0
        for i, d in enumerate(work.drafts):
            kind, source, text = d.memory.kind.value, (d.episode_id,), d.memory.text
            dup = work.known_as(i)
            if dup is not None:
                reason = f"rule: {d.statement.rule}; already known as memory {dup}"
                results.append(AddResult(Event.NOOP, i, dup, text, reason, kind=kind, sources=source))
                continue
            assert vectors is not None
            m = d.memory
            changes.upserts.append(StoredMemory(m, vectors[row], self.represent.terms(m)))
            row += 1
            rule = d.statement.rule
            changes.history.append(
                HistoryDraft.of(m, Event.ADD, None, m.text, "rules:fast", now, kind=m.kind.value, rule=rule)
            )
            results.append(
                AddResult(Event.ADD, i, m.id, m.text, f"rule: {rule}", memory=m, kind=kind, sources=source)
            )
        restated = await also_stated_by(self.storage.records, work)
        changes.upserts += [StoredMemory(m, existing=True) for m in restated]
        return await settle_profile(self.storage.records, changes, results, now)  # one home at a time
