"""An entity name ending in a bracket or quote that closes one inside it is shown whole: "Paris
(Texas)", not "Paris (Texas"; the brackets and quotes around a whole name still go, and names
still merge as before ("Paris (Texas)." is the same place, "Paris" another)."""

from __future__ import annotations

from memoryd.models import Scope
from memoryd.storage import Storage
from tests.storage.test_graph import remember, triples

U1 = Scope("u1")


async def test_a_closing_bracket_or_quote_inside_a_name_is_kept(store: Storage) -> None:
    await remember(store, "Ann moved to Paris (Texas)", ("Ann (my sister)", "lives_in", "Paris (Texas)"))
    await remember(store, "Ann visited Paris", ("Ann (my sister).", "visited", "(Paris)"))
    await remember(store, "Dwayne is called The Rock", ('Dwayne "The Rock"', "knows", "「张伟」"))
    names = sorted(e.name for e in await store.graph.entities(U1))
    assert names == ["Ann (my sister)", 'Dwayne "The Rock"', "Paris", "Paris (Texas)", "张伟"]
    assert sorted(triples(await store.graph.neighbours(U1, ["Ann (my sister)"]))) == [
        ("Ann (my sister)", "lives_in", "Paris (Texas)"),
        ("Ann (my sister)", "visited", "Paris"),
    ]
    [texas] = await store.graph.entities(U1, names=["Paris (Texas)."])
    assert texas.name == "Paris (Texas)"
