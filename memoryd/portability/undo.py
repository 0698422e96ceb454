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
  between writing them and what they hold) are deleted by id (:meth:`GraphStore.delete_entities
  <memoryd.storage.base.GraphStore.delete_entities>`, :meth:`SegmentStore.delete_segments
  <memoryd.storage.base.SegmentStore.delete_segments>`), only if unused: one that a relation or a
  turn written since (another memory naming the entity, or landing in the segment) holds stays.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from memoryd.hierarchy.models import Segment
from memoryd.memory import AsyncMemory
from memoryd.models import Event, Scope, utcnow
from memoryd.portability.format import Line, MemoryLine
from memoryd.storage import ChangeSet, HistoryDraft
from memoryd.storage.portable import EntityRow

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
    entities: list[str] = []
    segments: list[str] = []
    for line in lines:
        if isinstance(line, MemoryLine):
            memory_ids.append(line.record.id)
        elif isinstance(line, HistoryDraft):
            history_ids[line.memory_id] = None
        elif isinstance(line, EntityRow):
            entities.append(line.id)
        elif isinstance(line, Segment):
            segments.append(line.id)
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
            await records.purge_history(Scope(run_id=f"memoryd-undo-{uuid.uuid4()}"), erase)
    gone["entity"] = await _entities(mem, entities)
    gone["tier_segment"] = await _segments(mem, segments)
    return gone


async def _entities(mem: AsyncMemory, entities: list[str]) -> int:
    """The file's entities the store still holds that no relation touches (the import stopped
    before the relations naming them), deleted by id; how many went."""
    gone = 0
    for start in range(0, len(entities), CHUNK):
        gone += await mem.storage.graph.delete_entities(entities[start : start + CHUNK], unused_only=True)
    return gone


async def _segments(mem: AsyncMemory, segments: list[str]) -> int:
    """The file's segments the store still holds that hold no turn (the import stopped before
    their turns), deleted by id; how many went."""
    store = mem.storage.segments
    if store is None:
        return 0
    gone = 0
    for start in range(0, len(segments), CHUNK):
        gone += await store.delete_segments(segments[start : start + CHUNK], empty_only=True)
    return gone
