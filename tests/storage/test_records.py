"""Record store conformance: every backend keeps memories and history the same way."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from memoryd.filters import matches, parse_filter
from memoryd.models import Event, MemoryKind, Scope
from memoryd.storage import ChangeSet, HistoryDraft, Storage, StoredMemory
from tests.storage.helpers import T0, adds, record, unit


async def test_round_trip_keeps_every_field(store: Storage) -> None:
    m = record(
        "Ich wohne in Berlin 🏠 — 我住在柏林",
        agent_id="bot",
        run_id="s1",
        metadata={"topic": "home", "tags": ["a", "b"], "n": 3, "nested": {"x": 1}},
    )
    await store.commit(adds((m, unit(1))))
    got = (await store.records.get_many([m.id]))[m.id]
    assert got == m
    again = (await store.records.get_many([m.id]))[m.id]  # (served from a cache, if the store has one)
    assert again == m
    again.metadata["nested"]["x"] = 2  # a caller changing its copy changes nothing stored
    assert (await store.records.get_many([m.id]))[m.id] == m


async def test_upsert_replaces_and_delete_removes(store: Storage) -> None:
    m = record("first")
    await store.commit(adds((m, unit(1))))
    changed = m.with_changes(text="second", updated_at=m.updated_at + timedelta(seconds=5))
    await store.commit(ChangeSet(upserts=[StoredMemory(changed, unit(2))]))
    assert (await store.records.get_many([m.id]))[m.id].text == "second"
    await store.commit(ChangeSet(deletes=[m.id]))
    assert await store.records.get_many([m.id]) == {}


async def test_a_change_of_a_memory_deleted_meanwhile_fails_whole_and_brings_nothing_back(store: Storage) -> None:
    # An add read a memory (to close it, or add a source) while another writer deleted it: the
    # upsert brought it back with no vector or keyword entry, findable by get but not by search.
    from memoryd.errors import StaleWriteError

    gone, kept, new = record("lives in Paris"), record("lives in Rome"), record("lives in Oslo")
    await store.commit(adds((gone, unit(1)), (kept, unit(2))))
    await store.commit(ChangeSet(deletes=[gone.id]))  # the other writer
    closed = gone.with_changes(valid_to=T0 + timedelta(days=1), updated_at=T0 + timedelta(days=1))
    moved = kept.with_changes(valid_to=T0 + timedelta(days=1), updated_at=T0 + timedelta(days=1))
    stale = ChangeSet(
        upserts=[StoredMemory(new, unit(3)), StoredMemory(moved, existing=True), StoredMemory(closed, existing=True)],
        history=[HistoryDraft.of(gone, Event.SUPERSEDE, gone.text, None, "test", T0)],
    )
    with pytest.raises(StaleWriteError, match=gone.id) as caught:
        await store.commit(stale)
    assert caught.value.status_code == 503  # to retry: planned again from what is there
    assert await store.records.get_many([gone.id, new.id]) == {}  # nothing of the write
    assert (await store.records.get_many([kept.id]))[kept.id].valid_to is None
    assert await store.records.history(gone.id) == []  # nor its history entry
    await store.commit(ChangeSet(upserts=[StoredMemory(moved, existing=True)]))  # one still there: fine
    assert (await store.records.get_many([kept.id]))[kept.id].valid_to == moved.valid_to


async def test_history_is_ordered_and_outlives_the_memory(store: Storage) -> None:
    assert await store.records.last_history_id() == 0  # none yet
    m = record("v1")
    await store.commit(
        ChangeSet(
            upserts=[StoredMemory(m, unit(1), ["v1"])],
            history=[HistoryDraft(m.id, Event.ADD, None, "v1", "test", T0)],
        )
    )
    await store.commit(ChangeSet(history=[HistoryDraft(m.id, Event.UPDATE, "v1", "v2", "test", T0)]))
    await store.commit(
        ChangeSet(deletes=[m.id], history=[HistoryDraft(m.id, Event.DELETE, "v2", None, "test", T0)])
    )
    events = await store.records.history(m.id)
    assert [(e.event, e.old_text, e.new_text) for e in events] == [
        (Event.ADD, None, "v1"),
        (Event.UPDATE, "v1", "v2"),
        (Event.DELETE, "v2", None),
    ]
    # the last row written: what an import records to tell its own rows from those held before
    assert await store.records.last_history_id() == max(e.id for e in events)


async def test_duplicates_are_found_only_in_the_exact_scope_and_current(store: Storage) -> None:
    a = record("same text", user_id="u1", run_id="s1")
    b = record("old text", user_id="u1", run_id="s1", valid_to=T0 + timedelta(days=1))
    c = record("same text", user_id="u1", run_id="s1").with_changes(actor="Melanie")  # her words too
    await store.commit(adds((a, unit(1)), (b, unit(2)), (c, unit(3))))
    assert await store.records.find_duplicates(Scope("u1", None, "s1"), [a.hash, b.hash]) == {
        (a.hash, "user", None): a.id,
        (a.hash, "user", "Melanie"): c.id,
    }
    assert await store.records.find_duplicates(Scope("u1", None, "s2"), [a.hash]) == {}
    assert await store.records.find_duplicates(Scope("u1"), [a.hash]) == {}


async def test_list_pages_newest_first_with_total(store: Storage) -> None:
    items = [record(f"m{i}", days=i) for i in range(7)]
    await store.commit(adds(*[(m, unit(1)) for m in items]))
    await store.commit(adds((record("other user", user_id="u2"), unit(1))))
    page = await store.records.page(Scope("u1"), None, limit=3, offset=2)
    assert page.total == 7
    assert [m.text for m in page.items] == ["m4", "m3", "m2"]


async def test_latest_is_the_newest_current_matches_without_a_count(store: Storage) -> None:
    turns = [record(f"turn {i}", run_id="s1", days=i) for i in range(5)]
    fact = record("a fact", run_id="s1", days=9, kind=MemoryKind.FACT)
    old = record("superseded turn", run_id="s1", days=10, valid_to=T0 + timedelta(days=11))
    other = record("another session", run_id="s2", days=12)
    await store.commit(adds(*((m, unit(1)) for m in [*turns, fact, old, other])))
    episodes = parse_filter({"kind": "episode"})
    newest = await store.records.latest(Scope("u1", None, "s1"), episodes, limit=3)
    assert [m.text for m in newest] == ["turn 4", "turn 3", "turn 2"]
    assert [m.text for m in await store.records.latest(Scope("u1", None, "s1"), None, limit=1)] == ["a fact"]
    assert await store.records.latest(Scope("u9"), None, limit=5) == []


async def test_capped_selected_ids_are_the_most_recently_updated(store: Storage) -> None:
    items = [record(f"p{i}", days=i, kind=MemoryKind.PROFILE) for i in range(6)]
    items[0] = replace(items[0], updated_at=T0 + timedelta(days=100))  # the oldest, edited last
    await store.commit(adds(*[(m, unit(1)) for m in items]))
    profile = parse_filter({"kind": "profile"})
    capped = await store.records.select_ids(Scope("u1"), profile, cap=3)
    assert set(capped) == {items[0].id, items[5].id, items[4].id}
    assert set(await store.records.select_ids(Scope("u1"), profile, cap=6)) == {m.id for m in items}


async def test_selected_ids_are_right_after_every_kind_of_write(store: Storage) -> None:
    """Asked again and again (as context() does), the answer follows each write: a new match,
    a member edited out of the filter, a member superseded or deleted, another user's writes."""
    u1, prefs = Scope("u1"), parse_filter({"kind": "preference", "about": "assistant"})

    async def ask() -> set[str]:
        return set(await store.records.select_ids(u1, prefs, cap=500))

    first = record("be concise", kind=MemoryKind.PREFERENCE, metadata={"about": "assistant"})
    await store.commit(adds((first, unit(1)), (record("an ordinary turn"), unit(0, 1))))
    assert await ask() == {first.id}
    assert await ask() == {first.id}  # asked again: the same
    second = record("answer in French", kind=MemoryKind.PREFERENCE, metadata={"about": "assistant"})
    await store.commit(adds((second, unit(1)), (record("likes tea", kind=MemoryKind.PREFERENCE), unit(1))))
    assert await ask() == {first.id, second.id}  # a new match joins
    await store.commit(adds((record("other user's", user_id="u2", kind=MemoryKind.PREFERENCE,
                                   metadata={"about": "assistant"}), unit(1))))
    assert await ask() == {first.id, second.id}
    edited = first.with_changes(metadata={"about": "user"})
    await store.commit(ChangeSet(upserts=[StoredMemory(edited)]))
    assert await ask() == {second.id}  # a member that no longer matches leaves
    closed = second.with_changes(valid_to=T0 + timedelta(days=1))
    await store.commit(ChangeSet(upserts=[StoredMemory(closed)]))
    assert await ask() == set()  # superseded: not current
    assert set(await store.records.select_ids(u1, prefs, include_expired=True)) == {second.id}
    third = record("no emojis", kind=MemoryKind.PREFERENCE, metadata={"about": "assistant"})
    await store.commit(adds((third, unit(1))))
    assert await ask() == {third.id}
    await store.commit(ChangeSet(deletes=[third.id]))
    assert await ask() == set()  # deleted


async def test_validity_current_as_of_and_expired(store: Storage) -> None:
    old = record("lived in Paris", days=0, valid_to=T0 + timedelta(days=10))
    new = record("lives in Rome", days=10)
    await store.commit(adds((old, unit(1)), (new, unit(2))))
    current = await store.records.page(Scope("u1"), None, limit=10, offset=0)
    assert [m.text for m in current.items] == ["lives in Rome"]
    then = await store.records.page(Scope("u1"), None, limit=10, offset=0, as_of=T0 + timedelta(days=5))
    assert [m.text for m in then.items] == ["lived in Paris"]
    everything = await store.records.page(Scope("u1"), None, limit=10, offset=0, include_expired=True)
    assert everything.total == 2


FILTERS = [
    {"topic": "travel"},
    {"metadata.topic": {"ne": "travel"}},
    {"n": {"gte": 2, "lt": 5}},
    {"n": {"in": [1, 4]}},
    {"n": {"nin": [1, 4]}},
    {"tags": {"contains": "red"}},
    {"topic": {"contains": "TRAV"}},
    {"flag": True},
    {"flag": {"ne": True}},
    {"missing": None},
    {"topic": {"ne": None}},
    {"kind": "episode", "role": "assistant"},
    {"OR": [{"topic": "food"}, {"n": {"gt": 4}}]},
    {"NOT": {"topic": "travel"}},
    {"AND": [{"NOT": {"n": {"lt": 2}}}, {"OR": [{"tags": {"contains": "blue"}}, {"flag": False}]}]},
    {"created_at": {"gte": "2024-01-03T00:00:00Z"}},
    {"text": {"contains": "café"}},
    {"n": {"gt": "3"}},
    {"n": 3.0},
]


@pytest.mark.parametrize("raw", FILTERS, ids=[str(f) for f in FILTERS])
async def test_filters_follow_the_reference_semantics(store: Storage, raw: dict) -> None:
    docs = [
        record("trip to Kyoto", metadata={"topic": "travel", "n": 1, "tags": ["red", "blue"], "flag": True}),
        record("ramen in the CAFÉ", days=1, metadata={"topic": "food", "n": 2, "tags": ["red"]}),
        record("train times", days=2, role="assistant", metadata={"topic": "travel", "n": 3, "flag": False}),
        record("no metadata at all", days=3),
        record("budget", days=4, metadata={"n": 5, "tags": ["blue"], "topic": "money"}),
        record("string number", days=5, metadata={"n": "4", "flag": "true"}),
    ]
    await store.commit(adds(*[(m, unit(1)) for m in docs]))
    tree = parse_filter(raw)
    expected = {m.text for m in docs if matches(m, tree)}
    page = await store.records.page(Scope("u1"), tree, limit=100, offset=0)
    assert {m.text for m in page.items} == expected
    assert set(await store.records.select_ids(Scope("u1"), tree)) == {m.id for m in docs if matches(m, tree)}


async def test_meta_and_reset(store: Storage) -> None:
    await store.records.set_meta("k", "v1")
    await store.records.set_meta("k", "v2")
    assert await store.records.get_meta("k") == "v2"
    m = record("to be reset")
    await store.commit(adds((m, unit(1))))
    await store.reset()
    assert await store.records.get_many([m.id]) == {}
    assert await store.vectors.search(unit(1), scope=Scope("u1"), limit=5) == []
    assert await store.keywords.search(["reset"], scope=Scope("u1"), limit=5) == []


async def test_a_write_naming_an_applied_event_fails_whole_and_stores_nothing(store: Storage) -> None:
    from memoryd.errors import ConflictError, EventAppliedError
    from memoryd.storage.events import AppliedEvent

    first, second, third = record("I keep bees"), record("I keep bees too"), record("I play the cello")
    one, two = AppliedEvent("ev-1", "digest-a"), AppliedEvent("ev-2", "digest-b")
    await store.commit(ChangeSet(upserts=[StoredMemory(first, unit(1), ["bees"])], events=[one]))
    assert await store.records.applied(["ev-1", "ev-2"]) == {"ev-1": "digest-a"}
    with pytest.raises(EventAppliedError) as refused:  # the same event again
        await store.commit(ChangeSet(upserts=[StoredMemory(second, unit(2), ["bees"])], events=[two, one]))
    assert refused.value.status_code == 409 and "ev-1" in refused.value.message
    assert set(await store.records.get_many([first.id, second.id])) == {first.id}  # nothing of the second
    assert await store.records.applied(["ev-2"]) == {}  # rolled back with it
    assert [mid for mid, _ in await store.vectors.search(unit(2), scope=second.scope, limit=5)] == [first.id]
    other = AppliedEvent("ev-1", "digest-c", replaces=False)  # another add under the id: refused
    with pytest.raises(ConflictError) as conflict:
        await store.commit(ChangeSet(upserts=[StoredMemory(third, unit(3), ["cello"])], events=[other]))
    assert not isinstance(conflict.value, EventAppliedError) and "another add" in conflict.value.message
    reused = AppliedEvent("ev-1", "digest-c")  # an id reused once its status expired: a new event
    await store.commit(ChangeSet(upserts=[StoredMemory(third, unit(3), ["cello"])], events=[reused]))
    assert await store.records.applied(["ev-1"]) == {"ev-1": "digest-c"}
    await store.reset()
    assert await store.records.applied(["ev-1"]) == {}


async def test_a_memorys_neighbours_in_stored_order(store: Storage) -> None:
    from memoryd.filters import parse_filter

    turns = [record(f"turn {i}", run_id="s1") for i in range(4)]  # one instant: stored order decides
    other = record("another session", run_id="s2")
    await store.commit(adds(*[(m, unit(i + 1)) for i, m in enumerate([*turns, other])]))
    episodes, scope = parse_filter({"kind": "episode"}), Scope("u1", None, "s1")

    async def around(i: int) -> tuple[str | None, str | None]:
        before, after = await store.records.neighbours(scope, episodes, turns[i].id)
        return (before.text if before else None), (after.text if after else None)

    assert [await around(i) for i in range(4)] == [
        (None, "turn 1"), ("turn 0", "turn 2"), ("turn 1", "turn 3"), ("turn 2", None)
    ]  # fmt: skip
    await store.commit(ChangeSet(deletes=[turns[2].id]))
    assert await around(1) == ("turn 0", "turn 3")  # what is gone is no neighbour
    assert await store.records.neighbours(scope, episodes, "no-such-id") == (None, None)
