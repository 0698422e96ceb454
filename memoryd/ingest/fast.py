"""Fast mode: every message becomes an episode memory; nothing is dropped.

:func:`plan_fast_add` is pure: given the validated input, the duplicates
already stored and the clock, it decides each item's fate (ADD, or NOOP with
the id it duplicates: the same text and role said by the same speaker) and
drafts the new memories.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from memoryd.ingest.inputs import AddInput
from memoryd.models import AddResult, Event, MemoryKind, MemoryRecord, content_hash, new_id, speaker_key

__all__ = ["FastPlan", "SaidAgain", "in_order", "plan_fast_add"]


@dataclass(frozen=True)
class SaidAgain:
    """A turn said again, not stored (a NOOP): the turn it repeats (a stored one, or an earlier one
    of the same add), with that turn's id, said when this one is; ``after`` is how many of the add's
    new turns come before it, so fast mode's rules read the add's turns in the order they were said."""

    turn: MemoryRecord
    after: int


def in_order(new: Sequence[MemoryRecord], again: Sequence[SaidAgain]) -> list[MemoryRecord]:
    """The turns of one add, ``new`` and those said ``again``, in the order they were said."""
    out: list[MemoryRecord] = []
    taken = 0
    for a in again:
        out += new[taken : a.after]
        taken = max(taken, a.after)
        out.append(a.turn)
    return out + list(new[taken:])


@dataclass
class FastPlan:
    results: list[AddResult]  # one per input message, in order
    new: list[MemoryRecord]  # memories to embed and store
    again: list[SaidAgain] = field(default_factory=list)  # turns said again, in order

    def positions(self) -> list[int]:
        """The message position of each new memory, in ``new`` order."""
        index_of = {r.id: r.index for r in self.results}
        return [index_of[m.id] for m in self.new]


def plan_fast_add(
    data: AddInput,
    existing: dict[tuple[str, str | None, str | None], str],
    now: datetime,
    users: Collection[str] = (),
) -> FastPlan:
    """Decide ADD/NOOP per message; ``existing`` maps (hash, role, actor) to a stored id. A message
    is a NOOP when its text, role and speaker (``name``, compared as :func:`speaker_key` reads it)
    are a stored turn's or an earlier message's: two speakers saying the same words are two
    turns. ``users``: the speaker keys of user turns that are the user
    (:func:`memoryd.ingest.speakers.user_speakers`: no name, the ``user_id``, a name the user is
    known by), one speaker however the user is named."""

    def speaker(role: str | None, name: str | None) -> str:
        key = speaker_key(name)
        return "" if role in (None, "user") and key in users else key

    seen: dict[tuple[str, str | None, str], str] = {}
    for (digest, role, actor), known in existing.items():
        seen.setdefault((digest, role, speaker(role, actor)), known)
    results: list[AddResult] = []
    new: list[MemoryRecord] = []
    again: list[SaidAgain] = []
    for index, (msg, when) in enumerate(zip(data.messages, data.times)):
        digest = content_hash(msg.content)
        said = (digest, msg.role, speaker(msg.role, msg.name))
        dup = seen.get(said)
        if dup is not None:
            results.append(
                AddResult(
                    Event.NOOP, index, dup, msg.content, reason=f"duplicate of memory {dup} in the same scope"
                )
            )
        memory = MemoryRecord(
            id=new_id(),
            text=msg.content,
            kind=MemoryKind.EPISODE,
            user_id=data.scope.user_id,
            agent_id=data.scope.agent_id,
            run_id=data.scope.run_id,
            metadata=dict(data.metadata),
            role=msg.role,
            actor=msg.name,
            source_ids=(msg.id,) if msg.id else (),
            event_time=when,
            created_at=now,
            updated_at=now,
            hash=digest,
            valid_from=when or now,
        )
        if dup is not None:  # what it states may have ended since: fast mode's rules read it again
            again.append(SaidAgain(replace(memory, id=dup), len(new)))
            continue
        seen[said] = memory.id
        new.append(memory)
        results.append(AddResult(Event.ADD, index, memory.id, msg.content, memory=memory))
    return FastPlan(results, new, again)
