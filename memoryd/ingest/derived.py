"""Memories derived from episodes (fine mode's facts, fast mode's rules): who owns them, and how
they are built.

A derived memory belongs to the user/agent of the episodes it came from, not to
their session, so a later session can update what an earlier one said; the
session is kept as provenance in ``metadata.source_run_id``. Only a scope with
no user or agent keeps its ``run_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from memoryd.models import AddResult, Event, MemoryKind, MemoryRecord, Scope, content_hash, new_id

if TYPE_CHECKING:
    from memoryd.filters import Filter

__all__ = [
    "agent_view", "derived_memory", "owner_scope", "stated_only_among", "stated_only_by", "went_with_edit"
]  # fmt: skip


def owner_scope(scope: Scope) -> Scope:
    """Where memories derived in ``scope`` live: the user/agent, not the session (if there is one)."""
    if scope.user_id is None and scope.agent_id is None:
        return scope
    return Scope(scope.user_id, scope.agent_id, None)


def agent_view(user_id: str, agent_id: str | None) -> tuple[Scope, Filter]:
    """What an agent of a user reads as its own: the user's memories shared by every agent (no
    ``agent_id``) and, naming an agent, that agent's; never another agent's. The same view for
    what its writes are reconciled with and for its context. Returns the scope and the filter."""
    from memoryd.filters import Cond, Or

    shared = Cond("agent_id", "eq", None)
    theirs = shared if agent_id is None else Or((Cond("agent_id", "eq", agent_id), shared))
    return Scope(user_id=user_id), theirs


def derived_memory(
    text: str,
    kind: MemoryKind,
    origin: Scope,
    *,
    source_ids: Sequence[str],
    metadata: Mapping[str, Any],
    event_time: datetime | None,
    valid_from: datetime,
    now: datetime,
) -> MemoryRecord:
    """A new memory derived in ``origin`` from the episodes ``source_ids``."""
    owner = owner_scope(origin)
    meta = dict(metadata)
    if owner.run_id is None and origin.run_id is not None:
        meta["source_run_id"] = origin.run_id
    return MemoryRecord(
        id=new_id(),
        text=text,
        kind=kind,
        user_id=owner.user_id,
        agent_id=owner.agent_id,
        run_id=owner.run_id,
        metadata=meta,
        role=None,
        actor=None,
        source_ids=tuple(source_ids),
        event_time=event_time,
        created_at=now,
        updated_at=now,
        hash=content_hash(text),
        valid_from=valid_from,
    )


async def stated_only_by(records: Any, episode: MemoryRecord) -> list[MemoryRecord]:
    """The fast-mode rule memories (profile, preferences, facts about another speaker) that
    ``episode`` alone stated, current or superseded since: they go with it when it is deleted, or
    its text changes (the rules then read the new text); a superseded one kept would still answer
    for its time (``as_of``)."""
    if episode.kind is not MemoryKind.EPISODE:
        return []
    return await stated_only_among(records, owner_scope(episode.scope), {episode.id})


async def stated_only_among(records: Any, owner: Scope, gone: set[str]) -> list[MemoryRecord]:
    """The rule memories of ``owner`` that only turns among ``gone`` (ids of memories deleted
    together) stated, themselves not among them; of an agent of a user, the user's shared ones
    too (a home that replaced a shared one is stored shared,
    :func:`~memoryd.ingest.timelines.settle_profile`)."""
    from memoryd.filters import And, parse_filter

    # a fact too: another speaker's statement the rules read (:mod:`memoryd.ingest.speakers`)
    rule_made = parse_filter({"kind": {"in": ["profile", "preference", "fact"]}, "rule": "*"})
    if owner.user_id is not None and owner.agent_id is not None:
        owner, theirs = agent_view(owner.user_id, owner.agent_id)
        rule_made = theirs if rule_made is None else And((rule_made, theirs))
    ids = await records.select_ids(owner, rule_made, include_expired=True, cap=10_000)
    found = [
        m for m in (await records.get_many([i for i in ids if i not in gone])).values()
        if gone.intersection(m.source_ids)
    ]  # fmt: skip
    others = {s for m in found for s in m.source_ids if s not in gone}
    turns = await records.get_many(list(others)) if others else {}
    alive = {i for i, t in turns.items() if t.is_current}
    # stated by these turns and by no other turn still there (a turn deleted since states nothing)
    return [m for m in found if not alive.intersection(m.source_ids)]


def went_with_edit(memory: MemoryRecord, index: int, turn: str) -> AddResult:
    """``update``'s result for a rule memory that only the edited turn's old text stated."""
    why, kind = "only the turn's old text stated it", memory.kind.value
    return AddResult(Event.DELETE, index, memory.id, memory.text, why, memory, kind, sources=(turn,))
