"""``search(..., graph_hops=1)`` of an agent of a user shows the user's shared relations and its own.

A home told to an agent after a shared one is stored shared, its graph relation too, so that the
other agents see the move; but the graph reads named the agent exactly, so no agent's search ever
listed a relation stored shared (the other agents' graph had Alice living nowhere). Another
agent's own relations stay out; a search naming the user alone lists them all. The same body runs
with the graph embedded in SQLite and in a real FalkorDB server.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.config import FalkorDBConfig
from memoryd.embedders.use import USEEmbedder
from tests.fakes.llm_server import Script
from tests.fine.conftest import llm_settings
from tests.fine.test_agent_homes import ALICE, home
from tests.fine.test_fine_mode import decisions, facts
from tests.storage.falkordb_server import falkordb_url, graph_for

QUERY = "Where does Alice live, and where does Alice work?"


@pytest.fixture(params=["sqlite", "falkordb"])
async def fine(
    request: pytest.FixtureRequest, tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> AsyncIterator[AsyncMemory]:
    """Fine mode with the graph in ``request.param``."""
    settings = llm_settings(tmp_path, fake_llm.base_url)
    if request.param == "falkordb":
        if importlib.util.find_spec("falkordb") is None:
            pytest.skip("the falkordb client is not installed (pip install 'memoryd[falkordb]')")
        section = FalkorDBConfig(url=falkordb_url(), graph=graph_for(tmp_path))  # type: ignore[arg-type]
        storage = settings.storage.model_copy(update={"graph": "falkordb", "falkordb": section})
        settings = settings.model_copy(update={"storage": storage})
    mem = await AsyncMemory(settings, embedder=embedder).open()
    try:
        yield mem
    finally:
        await mem.close()


def said(fact: dict[str, Any], source: str, relation: str, target: str) -> dict[str, Any]:
    return {**fact, "relations": [{"source": source, "relation": relation, "target": target, "fact": 0}]}


async def _relations(mem: AsyncMemory, agent_id: str | None) -> list[tuple[str, str, str]]:
    found = await mem.search(QUERY, **ALICE, agent_id=agent_id, graph_hops=1)
    assert found.relations is not None
    return sorted((r.source.name, r.relation, r.target.name) for r in found.relations)


async def test_an_agents_graph_search_lists_the_shared_relations_not_another_agents(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.reply_json(said(home("Paris"), "Alice", "lives_in", "Paris"))
    await fine.add("I live in Paris", **ALICE, timestamp="2024-01-01T00:00:00Z")
    fake_llm.reply_json(said(home("Berlin"), "Alice", "lives_in", "Berlin"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD", "target": None}))
    await fine.add("I live in Berlin now", **ALICE, agent_id="travelbot", timestamp="2024-06-01T00:00:00Z")
    fake_llm.reply_json(said(facts("Alice works at Acme"), "Alice", "works_at", "Acme"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD", "target": None}))
    await fine.add("I work at Acme", **ALICE, agent_id="travelbot", timestamp="2024-07-01T00:00:00Z")
    assert fake_llm.pending == 0  # every scripted answer was asked for

    lives, works = ("Alice", "lives_in", "Berlin"), ("Alice", "works_at", "Acme")
    assert await _relations(fine, "healthbot") == [lives]  # travelbot's own job stays travelbot's
    assert await _relations(fine, "travelbot") == [lives, works]
    assert await _relations(fine, None) == [lives, works]
