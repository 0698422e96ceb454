"""A home current again when what superseded it is deleted: its relations hold again too.

Fine mode (the scripted LLM) is what asserts relations for a profile home. Before the fix,
deleting the later home made the earlier one current again in the records, but the relation it
asserted stayed ended: the graph said the user lived nowhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from memoryd import AsyncMemory
from memoryd.models import Event, Scope
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, facts, of_kind

ALICE = {"user_id": "alice"}
HOME = {"kind": "profile", "attribute": "location"}


def lives_in(city: str) -> dict[str, Any]:
    relation = {"source": "Alice", "relation": "lives_in", "target": city, "fact": 0}
    return {**facts(f"Alice lives in {city}", **HOME), "relations": [relation]}


async def move(fine: AsyncMemory, fake_llm: Script, city: str, when: str, *, supersede: bool) -> str:
    """Alice says she lives in ``city`` at ``when``; the id of the home it stored."""
    fake_llm.reply_json(lives_in(city))
    if supersede:
        fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    [home] = of_kind(await fine.add(f"I live in {city} now", **ALICE, timestamp=when), "profile")
    assert home.event is (Event.SUPERSEDE if supersede else Event.ADD)
    return str(home.id)


async def homes(fine: AsyncMemory, **when: Any) -> list[tuple[str, str, bool]]:
    found = await fine.storage.graph.neighbours(Scope("alice"), ["Alice"], **when)
    return sorted((r.relation, r.target.name, r.is_current) for r in found)


async def test_deleting_the_later_home_makes_the_earlier_one_and_its_relation_current(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    lisbon = await move(fine, fake_llm, "Lisbon", "2024-01-01T00:00:00Z", supersede=False)
    madrid = await move(fine, fake_llm, "Madrid", "2024-06-01T00:00:00Z", supersede=True)
    assert await homes(fine) == [("lives_in", "Madrid", True)]
    await fine.delete(madrid, **ALICE)
    assert (await fine.get(lisbon, **ALICE)).valid_to is None  # current again in the records
    assert await homes(fine) == [("lives_in", "Lisbon", True)]  # and in the graph (it lived nowhere)
    [relation] = await fine.storage.graph.relations(Scope("alice"), include_expired=True)
    assert (relation.valid_to, relation.reason, relation.memory_ids) == (None, None, (lisbon,))
    assert await fine.storage.graph.check() == []


async def test_a_home_reopened_until_the_next_one_ends_its_relation_there(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Lisbon, then Madrid, then Paris; Madrid deleted: Lisbon held until Paris, in the graph too."""
    lisbon = await move(fine, fake_llm, "Lisbon", "2024-01-01T00:00:00Z", supersede=False)
    madrid = await move(fine, fake_llm, "Madrid", "2024-06-01T00:00:00Z", supersede=True)
    await move(fine, fake_llm, "Paris", "2024-09-01T00:00:00Z", supersede=True)
    await fine.delete(madrid, **ALICE)
    paris_said = datetime(2024, 9, 1, tzinfo=UTC)
    assert (await fine.get(lisbon, **ALICE)).valid_to == paris_said
    assert await homes(fine) == [("lives_in", "Paris", True)]
    summer = {"as_of": datetime(2024, 7, 1, tzinfo=UTC)}  # when Madrid was the home, now Lisbon still
    assert await homes(fine, **summer) == [("lives_in", "Lisbon", False)]
    every = await fine.storage.graph.relations(Scope("alice"), include_expired=True)
    assert sorted((r.target.name, r.valid_to) for r in every) == [("Lisbon", paris_said), ("Paris", None)]
