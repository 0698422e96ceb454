"""What the lines of an export name, checked as the import's survey reads them.

A file whose references dangle would import into a store that ``memoryd check`` finds damaged;
the survey refuses it instead, naming the line and what it names. A reference points back to
an earlier line, in the format's order (:mod:`memoryd.portability.format`):

- a history row names a memory the file holds, or one whose history in the file has its
  ``DELETE`` (deleted before the export: its history stays, as in the store it came from);
- an entity can be found by its own name, and no other entity of its owner has one of its names;
- a relation names two entities of its own owner, is asserted by at least one memory (its
  ``mentions``), its ``memory_id`` among them, and every memory asserting it is in the file;
- a hierarchy turn names a current episode of the file, of the turn's owner and session, and
  a segment of the file (or none: short-term) of that owner; every segment holds as many turns
  of the file as it counts, and at least one.

A memory's ``source_ids`` are not checked: they name the turns it was derived from, which may
have been deleted since (a derived memory outlives its turns) or, in an old store, never kept.
Sessions (``run_id``, ``last_run_id``) name no line.

Memory held: a small entry per memory, entity and segment of the file (shared tuples for their
owners), not the rows; history rows waiting for their ``DELETE`` until it comes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from memoryd.errors import InvalidInputError
from memoryd.hierarchy.models import Segment
from memoryd.models import Event, MemoryKind
from memoryd.portability.format import MemoryLine
from memoryd.storage import HistoryDraft
from memoryd.storage.base import StoredTurn
from memoryd.storage.portable import EntityRow, Owner, RelationRow

__all__ = ["References"]

Session = tuple[str | None, str | None, str | None]  # (user_id, agent_id, run_id) of a memory
_Held = tuple[str | None, Owner, Session]  # why no turn may name it (None: it may), owner, session
_TURNED: _Held = ("already has a turn", (None, None, None), (None, None, None))


def _owner_of(user_id: str | None, agent_id: str | None, run_id: str | None) -> Owner:
    """The owner of what is written in this scope (graph, hierarchy): the user and agent, or the
    session alone when there is neither (as :func:`memoryd.graph.models.owner_of`)."""
    return (None, None, run_id) if user_id is None and agent_id is None else (user_id, agent_id, None)


def _fail(number: int, message: str) -> InvalidInputError:
    return InvalidInputError(f"line {number}: {message}", field="file")


@dataclass
class _Segment:
    number: int
    owner: Owner
    counted: int
    held: int = 0


@dataclass
class References:
    """Fed every line of the file in order (with its number); raises at the first that names
    what the file does not hold, and :meth:`finish` for what only the end can tell."""

    memories: dict[str, _Held] = field(default_factory=dict)
    entities: dict[str, Owner] = field(default_factory=dict)
    relations: set[str] = field(default_factory=set)
    segments: dict[str, _Segment] = field(default_factory=dict)
    names: dict[tuple[Owner, str], str] = field(default_factory=dict)  # (owner, name) -> its entity
    waiting: dict[str, int] = field(default_factory=dict)  # history of no memory (yet) -> first line
    deleted: set[str] = field(default_factory=set)  # memories whose DELETE the history holds
    _shared: dict[_Held, _Held] = field(default_factory=dict)  # one tuple per distinct value
    _owners: dict[Owner, Owner] = field(default_factory=dict)

    def memory(self, line: MemoryLine, number: int) -> None:
        m = line.record
        if m.id in self.memories:
            raise _fail(number, f"a second memory with id {m.id!r}")
        session = (m.user_id, m.agent_id, m.run_id)
        why = None
        if m.kind is not MemoryKind.EPISODE:
            why = "is not an episode"
        elif m.valid_to is not None:
            why = "is not current (its validity ended)"
        held: _Held = (why, _owner_of(*session), session)
        self.memories[m.id] = self._shared.setdefault(held, held)

    def history(self, h: HistoryDraft, number: int) -> None:
        if h.event is Event.DELETE:
            self.deleted.add(h.memory_id)
            self.waiting.pop(h.memory_id, None)
        elif h.memory_id not in self.memories and h.memory_id not in self.deleted:
            self.waiting.setdefault(h.memory_id, number)

    def entity(self, e: EntityRow, number: int) -> None:
        if e.id in self.entities:
            raise _fail(number, f"a second entity with id {e.id!r}")
        listed = [n for n, _ in e.names]
        if len(set(listed)) != len(listed):
            raise _fail(number, f"entity {e.id!r} lists a name twice")
        if e.normal not in listed:  # it could not be found by its own name
            raise _fail(number, f"entity {e.id!r} is not among its own names ({e.normal!r})")
        for normal in listed:
            if (other := self.names.setdefault((e.owner, normal), e.id)) != e.id:
                raise _fail(number, f"entity {e.id!r} has the name {normal!r} of entity {other!r}")
        self.entities[e.id] = self._shared_owner(e.owner)

    def relation(self, r: RelationRow, number: int) -> None:
        rel = f"relation {r.id!r}"
        if r.id in self.relations:
            raise _fail(number, f"a second relation with id {r.id!r}")
        self.relations.add(r.id)
        owner = _owner_of(r.user_id, r.agent_id, r.run_id)
        for end in (r.source_id, r.target_id):
            found = self.entities.get(end)
            if found is None:
                raise _fail(number, f"{rel} names an entity the file does not hold ({end!r})")
            if found != owner:
                raise _fail(number, f"{rel} of {_whose(owner)} names entity {end!r} of {_whose(found)}")
        if not r.mentions:
            raise _fail(number, f"{rel} is asserted by no memory (its 'mentions' are empty)")
        asserting = [m.memory_id for m in r.mentions]
        if r.memory_id not in asserting:
            raise _fail(number, f"{rel} names memory {r.memory_id!r}, which is not among those asserting it")
        for memory_id in asserting:
            if memory_id not in self.memories:
                why = f"{rel} is asserted by memory {memory_id!r}, which the file does not hold"
                raise _fail(number, why)

    def segment(self, s: Segment, number: int) -> None:
        if s.id in self.segments:
            raise _fail(number, f"a second segment with id {s.id!r}")
        self.segments[s.id] = _Segment(number, self._shared_owner(_owner(s.owner)), s.turns)

    def turn(self, t: StoredTurn, number: int) -> None:
        turn = f"hierarchy turn of memory {t.memory_id!r}"
        held = self.memories.get(t.memory_id)
        if held is None:
            raise _fail(number, f"{turn}: the file does not hold that memory")
        why, owner, session = held
        if held is _TURNED:
            raise _fail(number, f"a second {turn}")
        if why is not None:
            raise _fail(number, f"{turn}: that memory {why}")
        if _owner(t.owner) != owner or (t.user_id, t.agent_id, t.run_id) != session:
            mine, its = _whose((t.user_id, t.agent_id, t.run_id)), _whose(session)
            raise _fail(number, f"{turn}: its owner or session is not its memory's (the turn's: {mine}; the "
                                f"memory's: {its})")  # fmt: skip
        if t.segment_id is not None:
            segment = self.segments.get(t.segment_id)
            if segment is None:
                raise _fail(number, f"{turn} is in segment {t.segment_id!r}, which the file does not hold")
            if segment.owner != owner:
                theirs, mine = _whose(segment.owner), _whose(owner)
                where = f"segment {t.segment_id!r} of {theirs}"
                raise _fail(number, f"{turn} is in {where}, not of the turn's owner ({mine})")
            segment.held += 1
        self.memories[t.memory_id] = _TURNED

    def finish(self) -> None:
        """What the whole file tells: history of no memory, segments short of (or over) their turns."""
        held, deleted = self.memories, self.deleted
        dangling = [(n, i) for i, n in self.waiting.items() if i not in held and i not in deleted]
        if dangling:
            number, memory_id = min(dangling)
            raise _fail(
                number,
                f"history of memory {memory_id!r}, which the file neither holds nor records as deleted "
                "(no DELETE in its history)",
            )
        wrong = [(s.number, i) for i, s in self.segments.items() if s.held != s.counted or not s.held]
        if wrong:
            number, segment_id = min(wrong)
            s = self.segments[segment_id]
            if not s.held:
                raise _fail(number, f"segment {segment_id!r} holds no turn of the file")
            why = f"segment {segment_id!r} counts {s.counted} turns; the file holds {s.held} in it"
            raise _fail(number, why)

    def _shared_owner(self, owner: Owner) -> Owner:
        return self._owners.setdefault(owner, owner)


def _whose(session: Session | Owner) -> str:
    """A scope or owner in words: "user 'ana', session 's1'" (none of the three: "no one")."""
    named = zip(("user", "agent", "session"), session, strict=True)
    words = [f"{word} {value!r}" for word, value in named if value is not None]
    return ", ".join(words) or "no one"


def _owner(key: str) -> Owner:
    """An owner key (:func:`memoryd.hierarchy.models.owner_key`) as its three parts."""
    parts = json.loads(key)
    return (parts[0], parts[1], parts[2])
