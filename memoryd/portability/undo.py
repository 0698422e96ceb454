"""Undoing an unfinished import into a store that held memories (``memoryd import --restart FILE``).

Such an import (stopped by Ctrl-C or SIGTERM, killed, or failed midway) leaves the store open, with
the rows it wrote beside those the store held (``IMPORT_PARTIAL`` names its file). Its rows are
exactly those whose ids come from the file: none of the file's memory ids, graph owners, hierarchy
turns or segments was in the store before it (the import refuses such a file before writing). So
they are removed by id, through the storage roles' own deletion paths (every vector index and
graph backend follows them), and nothing else is:

- the file's memories the store holds are hard-deleted (a :class:`ChangeSet`'s ``deletes``): their
  record, vector and keyword entry, the graph mentions they made (a relation only they asserted
  goes, and an entity left with none), their hierarchy turns (a segment left empty goes);
- their history, and that of the deleted memories the file holds history of, is erased when every
  row of it is newer than the import (``IMPORT_FLOOR``: the store's last history row when the
  import began). A memory whose history the store held before (one deleted here, which the file
  restores) keeps it: its import-written rows stay, and a ``DELETE`` closes them;
- entities and segments of the file left without a relation or a turn (the import stopped
  between writing them and what they hold) go the same way: each is given a placeholder that the
  same hard delete removes with it, in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from memoryd.hierarchy.models import Segment
from memoryd.memory import AsyncMemory
from memoryd.models import Event, Scope, utcnow
from memoryd.portability.format import Line, MemoryLine
from memoryd.storage import ChangeSet, HistoryDraft
from memoryd.storage.base import StoredTurn
from memoryd.storage.portable import EntityRow, MentionRow, RelationRow

__all__ = ["IMPORT_FLOOR", "undo_partial"]

# The record store's meta key an import into a store that held memories sets, beside IMPORT_PARTIAL,
# to the id of the store's last history row when it began: rows above it are the import's (or newer).
IMPORT_FLOOR = "import_partial_history"
ACTOR = "import:restart"
CHUNK = 500


async def undo_partial(mem: AsyncMemory, lines: Iterable[Line], floor: int | None) -> dict[str, int]:
    """Remove what an unfinished import of ``lines`` (the file's) wrote into ``mem``'s store (see
    the module docstring); ``floor``: its ``IMPORT_FLOOR`` (None, an older memoryd's import: every
    history row is kept). Returns how many memories, entities and segments went."""
    storage = mem.storage
    records = storage.records
    memory_ids: list[str] = []
    history_ids: dict[str, None] = {}
    entities: list[EntityRow] = []
    segments: dict[str, Segment] = {}
    for line in lines:
        if isinstance(line, MemoryLine):
            memory_ids.append(line.record.id)
        elif isinstance(line, HistoryDraft):
            history_ids[line.memory_id] = None
        elif isinstance(line, EntityRow):
            entities.append(line)
        elif isinstance(line, Segment):
            segments[line.id] = line
    gone = {"memory": 0, "entity": 0, "tier_segment": 0}

    async def all_new(memory_id: str) -> bool:  # every history row of it is the import's (or newer)
        rows = await records.history(memory_id)
        return floor is not None and bool(rows) and all(h.id > floor for h in rows)

    for start in range(0, len(memory_ids), CHUNK):
        held = await records.get_many(memory_ids[start : start + CHUNK])
        drafts = [  # history the store held before: kept, and closed
            HistoryDraft.of(m, Event.DELETE, m.text, None, ACTOR, utcnow())
            for m in held.values()
            if not await all_new(m.id)
        ]
        if held:
            await storage.commit(ChangeSet(deletes=list(held), history=drafts))
            gone["memory"] += len(held)
    # The history of the file's memories, gone now (and of the deleted ones it holds history of),
    # that is all the import's; never that of a memory the store holds.
    ids = list(dict.fromkeys([*memory_ids, *history_ids]))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        held = await records.get_many(chunk)
        erase = [i for i in chunk if i not in held and await all_new(i)]
        if erase:  # by memory id alone: the scope given is a session no row names
            await records.purge_history(Scope(run_id=_placeholder()), erase)
    gone["entity"] = await _entities(mem, entities)
    gone["tier_segment"] = await _segments(mem, segments)
    return gone


def _placeholder() -> str:
    return f"memoryd-undo-{uuid.uuid4()}"


async def _entities(mem: AsyncMemory, entities: list[EntityRow]) -> int:
    """The file's entities the store still holds (the import stopped before the relations naming
    them): each asserted by a placeholder relation, which the hard delete of its placeholder memory
    removes with every entity it leaves unused (one some other relation uses stays)."""
    graph = mem.storage.graph
    wanted: dict[tuple[str | None, str | None, str | None], set[str]] = {}
    for e in entities:
        wanted.setdefault(e.owner, set()).add(e.id)
    held: list[EntityRow] = []
    for owner, ids in wanted.items():
        scope = Scope(owner[0], owner[1], None) if owner[0] or owner[1] else Scope(run_id=owner[2])
        after: str | None = None
        while True:
            rows, after = await graph.scan_entities(scope, after=after, limit=1000)
            held += [e for e in rows if e.id in ids and e.owner == owner]
            if after is None:
                break
    gone = 0
    now = datetime.now(UTC)
    for start in range(0, len(held), CHUNK):
        chunk = held[start : start + CHUNK]
        marks = [_placeholder() for _ in chunk]
        edges = [
            RelationRow(_placeholder(), e.owner[0], e.owner[1], e.id, "memoryd_undo", e.id, mark, e.owner[2],
                        now, None, None, now, (MentionRow(mark, e.owner[2], None),))
            for e, mark in zip(chunk, marks, strict=True)
        ]  # fmt: skip
        async with mem.storage.records.transaction():
            await graph.restore([], edges)
            await mem.storage.commit(ChangeSet(deletes=marks))
        gone += len(chunk)
    return gone


async def _segments(mem: AsyncMemory, segments: dict[str, Segment]) -> int:
    """The file's segments the store still holds (the import stopped before their turns): each given
    a placeholder turn, whose hard delete leaves it empty, and an empty segment goes."""
    store = mem.storage.segments
    if store is None or not segments:
        return 0
    ids = list(segments)
    gone = 0
    for start in range(0, len(ids), CHUNK):
        held = sorted(await store.held(segment_ids=ids[start : start + CHUNK]))
        if not held:
            continue
        turns = [
            StoredTurn(_placeholder(), segments[s].owner, segments[s].user_id, segments[s].agent_id, None,
                       0.0, segments[s].level, segment_id=s, words=())
            for s in held
        ]  # fmt: skip
        async with mem.storage.records.transaction():
            await store.restore(turns, [])
            await mem.storage.commit(ChangeSet(deletes=[t.memory_id for t in turns]))
        gone += len(held)
    return gone
