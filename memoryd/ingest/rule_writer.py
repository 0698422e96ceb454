"""Fast mode's rule memories, written with an add: what :mod:`memoryd.ingest.rules` drafts from
explicit self-statements ("I live in Porto": the user's home), looked up, embedded and staged
in the add's change set.

:meth:`RuleWriter.start` runs while the model embeds the add's turns: it looks up which drafts
are already known (the owner's, and the user's shared ones for an agent) and asks for the others'
vectors at once, ahead of the add's own batch. :meth:`RuleWriter.finish` stages the new ones
(a NOOP for each known one, the repeating turn added to its sources) and settles the profile: one
current home at a time.
"""

from __future__ import annotations

from datetime import datetime

from memoryd.embedders.runner import EmbeddingRunner
from memoryd.ingest.represent import Represent
from memoryd.ingest.rules import RuleMemory, RuleWork, also_stated_by, settle_profile
from memoryd.ingest.speakers import draft_rules
from memoryd.models import AddResult, Event, MemoryRecord, Scope
from memoryd.storage import ChangeSet, HistoryDraft, Storage, StoredMemory

__all__ = ["RuleWriter"]


class RuleWriter:
    """Stages the rule memories of an add's new turns (see the module doc)."""

    def __init__(self, storage: Storage, embed: EmbeddingRunner, represent: Represent) -> None:
        self.storage = storage
        self.embed = embed
        self.represent = represent

    async def memories(
        self, episodes: list[MemoryRecord], now: datetime, changes: ChangeSet
    ) -> list[AddResult]:
        """The rule memories of ``episodes`` staged in ``changes``, in one go; one result per draft."""
        work = await self.start(await self.draft(episodes, now))
        return await self.finish(work, now, changes) if work is not None else []

    async def draft(self, episodes: list[MemoryRecord], now: datetime) -> list[RuleMemory]:
        """The rule drafts of ``episodes``: another named speaker's statements are facts about
        them, not the user's profile (:mod:`memoryd.ingest.speakers`)."""
        return await draft_rules(self.storage.records, episodes, now)

    async def start(self, drafts: list[RuleMemory]) -> RuleWork | None:
        """Look up which drafts are already known and ask for the others' vectors (at once)."""
        if not drafts:
            return None
        records = self.storage.records
        owner = drafts[0].memory.scope  # one add has one scope
        hashes = [d.memory.hash for d in drafts]
        known = await records.find_duplicates(owner, hashes)
        if owner.user_id is not None and owner.agent_id is not None:  # it reads the user's shared ones
            known = {**await records.find_duplicates(Scope(owner.user_id), hashes), **known}
        fresh = [d.memory.text for d in drafts if (d.memory.hash, None) not in known]
        # Urgent: queued behind the add's own episodes they would wait for the whole batch.
        return RuleWork(drafts, known, self.embed.soon(fresh, urgent=True) if fresh else None)

    async def finish(self, work: RuleWork, now: datetime, changes: ChangeSet) -> list[AddResult]:
        """Add the new rule memories to ``changes``; one result per draft (NOOP if known)."""
        vectors = await work.vectors if work.vectors is not None else None
        results: list[AddResult] = []
        row = 0
        for i, d in enumerate(work.drafts):
            kind, source, text = d.memory.kind.value, (d.episode_id,), d.memory.text
            dup = work.known.get((d.memory.hash, None))
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
