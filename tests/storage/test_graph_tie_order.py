"""One name can find two entities in a user's scope, the user's own and one of the user's agent's:
with a tight ``limit`` which of them was served first was left to the engine (SQLite's query plan,
FalkorDB's match order), so the two graph stores answered differently. Entities a name finds
equally early now take turns in creation order, the order :meth:`GraphStore.entities` lists, on
every backend (the graph conformance suite, see conftest)."""

from __future__ import annotations

import pytest

from memoryd.graph import RelationDraft
from memoryd.models import Scope
from memoryd.storage import ChangeSet, Storage
from tests.storage.helpers import record, stored, unit

U1 = Scope("u1")
Told = tuple[str, str, str | None, dict[str, list[str]]]  # source, target, agent, aliases
CAPITAL: Told = ("Paris", "the capital", None, {})
CITY_OF_LIGHT: Told = ("Paris", "the city of light", "a1", {"Paris": ["Lutetia"]})


async def tell(
    store: Storage, source: str, target: str, agent_id: str | None, aliases: dict[str, list[str]]
) -> None:
    m = record(f"{source} is {target}", agent_id=agent_id)
    draft = RelationDraft(
        source=source, relation="is", target=target, memory_id=m.id, scope=m.scope,
        valid_from=m.valid_from, aliases=aliases,
    )  # fmt: skip
    await store.commit(ChangeSet(upserts=[stored(m, unit(1))], graph_add=[draft]))


async def first_of(store: Storage, names: list[str]) -> str:
    [only] = await store.graph.neighbours(U1, names, limit=1)
    return only.target.name


@pytest.mark.parametrize("told", [(CAPITAL, CITY_OF_LIGHT), (CITY_OF_LIGHT, CAPITAL)], ids=["user", "agent"])
async def test_the_entities_one_name_finds_take_turns_oldest_first(
    store: Storage, told: tuple[Told, Told]
) -> None:
    for said in told:
        await tell(store, *said)
    first, second = (target for _, target, _, _ in told)
    for names in (["Paris", "Lutetia"], ["Paris"], ["paris", "Paris"]):
        assert await first_of(store, names) == first, names
    both = await store.graph.neighbours(U1, ["Paris", "Lutetia"], limit=2)
    assert sorted(r.target.name for r in both) == sorted([first, second])
    # An earlier name still comes first: only the agent's entity is called Lutetia.
    assert await first_of(store, ["Lutetia", "Paris"]) == "the city of light"


async def test_an_entity_is_as_old_as_it_is_not_as_its_newest_name(store: Storage) -> None:
    """The agent's entity, first called Lutetia, is older than the user's Paris though it was
    called Paris after the user's was created."""
    await tell(store, "Lutetia", "the city of light", "a1", {})
    await tell(store, *CAPITAL)
    await tell(store, *CITY_OF_LIGHT)  # the same relation: Paris is now a name of the agent's Lutetia
    assert [e.name for e in await store.graph.entities(U1, names=["Paris"])] == ["Lutetia", "Paris"]
    for names in (["Paris"], ["Paris", "Lutetia"], ["Lutetia", "Paris"]):
        assert await first_of(store, names) == "the city of light", names
    assert await first_of(store, ["Paris", "the capital"]) == "the city of light"
