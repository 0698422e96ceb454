"""`memoryd import --restart`'s undo deletes the file's graph entities and segments left holding
nothing, and only those: one that a relation or a turn written since the import stopped holds (a
new memory naming the entity, a turn landing in the segment) stays, on each graph engine."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.graph import RelationDraft
from memoryd.hierarchy.models import Segment, owner_key
from memoryd.models import Scope
from memoryd.portability.undo import undo_partial
from memoryd.storage import ChangeSet
from memoryd.storage.base import StoredTurn
from memoryd.storage.portable import EntityRow
from tests.storage.falkordb_server import falkordb_url, graph_for
from tests.storage.helpers import T0, record, stored

ANA = Scope("ana")
KEY = owner_key(ANA)


def _entity(eid: str, name: str) -> EntityRow:
    return EntityRow(eid, ("ana", None, None), name, name.lower(), None, ((name.lower(), name),), T0)


def _segment(sid: str, dim: int) -> Segment:
    return Segment(sid, KEY, "ana", None, "tea", (("tea", 1),), np.ones(dim, dtype=np.float32), turns=1,
                   created_at=1.0, touched_at=1.0, level=0)  # fmt: skip


@pytest.mark.parametrize("graph", ["sqlite", "falkordb"])
async def test_undo_deletes_only_the_files_entities_and_segments_that_hold_nothing(
    tmp_path: Path, embedder: USEEmbedder, graph: str
) -> None:
    storage: dict[str, object] = {"path": str(tmp_path / "a.db")}
    if graph == "falkordb":
        if importlib.util.find_spec("falkordb") is None:
            pytest.skip("the falkordb client is not installed (pip install 'memoryd[falkordb]')")
        storage |= {"graph": "falkordb", "falkordb": {"url": falkordb_url(), "graph": graph_for(tmp_path)}}
    async with AsyncMemory(load_settings(env={}, overrides={"storage": storage}), embedder=embedder) as mem:
        tiers = mem.storage.segments
        assert tiers is not None
        dim = embedder.dim
        # What a stopped import of the file wrote: two entities and two segments, nothing in them
        await mem.storage.graph.restore([_entity("file-zoe", "Zoe"), _entity("file-max", "Max")], [])
        await tiers.restore([], [_segment("file-used", dim), _segment("file-empty", dim)])
        # Written since, by the store's owner: a memory naming Zoe, and its turn in a file segment
        m = record("Zoe knows Bob", user_id="ana")
        vector = np.ones(dim, dtype=np.float32) / np.sqrt(dim)
        knows = RelationDraft(source="Zoe", relation="knows", target="Bob", memory_id=m.id, scope=ANA)
        await mem.storage.commit(ChangeSet(upserts=[stored(m, vector)], graph_add=[knows]))
        await tiers.restore([StoredTurn(m.id, KEY, "ana", None, None, 1.0, 0, "file-used", None, ("zoe",))], [])
        lines = [_entity("file-zoe", "Zoe"), _entity("file-max", "Max"), _segment("file-used", dim),
                 _segment("file-empty", dim)]  # fmt: skip

        gone = await undo_partial(mem, lines, None)

        assert gone == {"memory": 0, "entity": 1, "tier_segment": 1}
        assert {e.id for e in await mem.storage.graph.entities(ANA) if e.name != "Bob"} == {"file-zoe"}
        assert [r.memory_id for r in await mem.storage.graph.relations(ANA)] == [m.id]
        assert await tiers.held(segment_ids=["file-used", "file-empty"], memory_ids=[m.id]) == {"file-used", m.id}
