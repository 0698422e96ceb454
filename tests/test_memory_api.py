"""The library API end to end: real SQLite, the real embedder, no mocks."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from memoryd import (
    AsyncMemory,
    EmbedderMismatchError,
    Event,
    InvalidFilterError,
    InvalidInputError,
    Memory,
    MemorydError,
    MemoryKind,
    NotFoundError,
    NotSupportedError,
    PayloadTooLargeError,
    Settings,
    StorageError,
)
from memoryd.models import utcnow

CHAT = [
    {"role": "user", "content": "I adopted a golden retriever named Biscuit last week", "name": "Ana"},
    {"role": "assistant", "content": "Congratulations! How is Biscuit settling in?"},
    {"role": "user", "content": "Great, but he chews my running shoes", "name": "Ana", "id": "m-3"},
]


async def test_add_returns_one_result_per_message_and_stores_episodes(amem: AsyncMemory) -> None:
    results = await amem.add(
        CHAT, user_id="ana", run_id="s1", metadata={"channel": "web"}, timestamp="2024-05-01T10:00:00Z"
    )
    assert [r.event for r in results] == [Event.ADD] * 3
    assert [r.index for r in results] == [0, 1, 2]
    stored = await amem.get(results[2].id)
    assert stored.kind is MemoryKind.EPISODE
    assert (stored.role, stored.actor, stored.source_ids) == ("user", "Ana", ("m-3",))
    assert (stored.user_id, stored.run_id, stored.metadata) == ("ana", "s1", {"channel": "web"})
    assert stored.event_time is not None and stored.event_time.isoformat() == "2024-05-01T10:00:00+00:00"
    assert stored.valid_from == stored.event_time and stored.valid_to is None
    assert len(stored.hash) == 64


async def test_exact_duplicates_in_a_scope_are_noop_with_reason(amem: AsyncMemory) -> None:
    first = await amem.add("I live in Porto", user_id="u")
    again = await amem.add(["I live in Porto", "i   LIVE in porto", "Something new"], user_id="u")
    assert [r.event for r in again] == [Event.NOOP, Event.NOOP, Event.ADD]
    assert again[0].id == first[0].id and "duplicate" in (again[0].reason or "")
    other_scope = await amem.add("I live in Porto", user_id="u", run_id="s2")
    assert other_scope[0].event is Event.ADD
    assert (await amem.get_all(user_id="u", filters={"kind": "episode"})).total == 3
    # The fast-mode rules kept one profile memory for the user, not one per session.
    profile = await amem.get_all(user_id="u", filters={"kind": "profile"})
    assert [m.text for m in profile.items] == ["The user lives in Porto."]


async def test_search_finds_by_meaning_and_keyword_within_scope(amem: AsyncMemory) -> None:
    await amem.add(CHAT, user_id="ana", run_id="s1")
    await amem.add("My cat Tom sleeps all day", user_id="bob")
    hits = await amem.search("what pet does she have?", user_id="ana", explain=True)
    assert hits and "Biscuit" in hits[0].memory.text
    assert all(h.memory.user_id == "ana" for h in hits)
    parts = hits[0].explain or {}
    assert parts["dense_cosine"] is not None and parts["method"] == "score"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    shoes = await amem.search("running shoes", user_id="ana", limit=1, explain=True)
    assert "shoes" in shoes[0].memory.text and shoes[0].explain["bm25_rank"] == 1  # type: ignore[index]
    assert await amem.search("cat", user_id="nobody") == []


async def test_search_and_context_do_not_wait_for_an_ingest_batch(amem: AsyncMemory, embedder) -> None:  # type: ignore[no-untyped-def]
    """A query is embedded on the spot: it never queues behind a batch holding the model."""
    await amem.add("I walked my golden retriever Biscuit by the river", user_id="u")
    with embedder._lock:  # a large batch is running on the model
        found = await asyncio.wait_for(amem.search("my dog", user_id="u"), 10)
        ctx = await asyncio.wait_for(amem.context("my dog", user_id="u"), 10)
    assert [h.memory.text for h in found][:1] == ["I walked my golden retriever Biscuit by the river"]
    assert "Biscuit" in ctx.text


async def test_an_adds_rule_memories_are_embedded_while_its_batch_runs(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    """The few rule memories an add drafts do not queue behind the add's own episodes."""
    import threading

    released = threading.Event()
    seen: list[str] = []

    class Gated:
        name, dim, inline_texts = embedder.name, embedder.dim, embedder.inline_texts

        def embed(self, texts):  # type: ignore[no-untyped-def]
            if len(texts) > 16:  # the episodes: held until the rule memories got their vectors
                seen.append("batch released" if released.wait(10) else "batch timed out")
            else:
                seen.append("rules")
                released.set()
            return embedder.embed(texts)

    chat = [f"filler line number {i} about the weather" for i in range(20)]
    chat += ["My name is Ana.", "I love hiking in the Alps."]
    async with AsyncMemory(settings, embedder=Gated()) as mem:
        out = await mem.add([{"role": "user", "content": t} for t in chat], user_id="u")
    assert seen == ["rules", "batch released"]
    assert {r.kind for r in out if r.event.value == "ADD"} == {"episode", "profile", "preference"}


async def test_search_filters_threshold_and_as_of(amem: AsyncMemory) -> None:
    await amem.add(
        "Trip to Kyoto in spring", user_id="u", metadata={"topic": "travel"}, timestamp="2024-01-10T00:00:00Z"
    )
    await amem.add(
        "Booked a ryokan in Kyoto",
        user_id="u",
        metadata={"topic": "travel"},
        timestamp="2024-06-10T00:00:00Z",
    )
    await amem.add(
        "Kyoto ramen was the best food",
        user_id="u",
        metadata={"topic": "food"},
        timestamp="2024-06-11T00:00:00Z",
    )
    food = await amem.search("Kyoto", user_id="u", filters={"topic": "food"})
    assert [h.memory.text for h in food] == ["Kyoto ramen was the best food"]
    early = await amem.search("Kyoto", user_id="u", as_of="2024-03-01T00:00:00Z")
    assert [h.memory.text for h in early] == ["Trip to Kyoto in spring"]
    assert await amem.search("Kyoto", user_id="u", threshold=0.99) == []
    strict = await amem.search("Kyoto ryokan booking", user_id="u", threshold=0.3, explain=True)
    assert strict and all(h.explain["dense_cosine"] >= 0.3 for h in strict)  # type: ignore[index]


async def test_a_threshold_keeps_what_clears_it_however_many_keyword_matches_fall_short(
    amem: AsyncMemory,
) -> None:
    """Keyword matches below the threshold used to fill the candidate list and push out the one
    memory above it: zero hits at a small limit."""
    await amem.add([f"zorblax code {i}: the invoice field was left blank on form {i}" for i in range(12)], user_id="u")
    await amem.add("I adopted a golden retriever puppy last week", user_id="u")
    query = "zorblax my new dog"
    everything = await amem.search(query, user_id="u", limit=50, explain=True)
    above = [h.memory.text for h in everything if h.explain["dense_cosine"] >= 0.3]  # type: ignore[index]
    assert above == ["I adopted a golden retriever puppy last week"]
    for limit in (1, 2, 3):
        hits = await amem.search(query, user_id="u", limit=limit, threshold=0.3)
        assert [h.memory.text for h in hits] == above, limit


async def test_update_delete_and_history(amem: AsyncMemory) -> None:
    mid = (await amem.add("I work at Acme", user_id="u"))[0].id
    done = await amem.update(mid, "I work at Globex", metadata={"source": "fix"})
    updated = done.memory
    assert done.event is Event.UPDATE
    assert updated.text == "I work at Globex" and updated.metadata == {"source": "fix"}
    # the workplace the rules read in the old text went; the one in the new text came
    assert [(r.event, r.kind, r.text) for r in done.derived] == [
        (Event.ADD, "profile", "The user works at Globex."),
        (Event.DELETE, "profile", "The user works at Acme."),
    ]
    assert (await amem.search("Globex", user_id="u"))[0].memory.id == mid
    assert await amem.search("Acme", user_id="u", threshold=0.9) == []
    unchanged = await amem.update(mid, "I work at Globex")  # no change: a NOOP in the history
    assert (unchanged.event, unchanged.memory, unchanged.derived) == (Event.NOOP, updated, ())
    removed = await amem.delete(mid)  # with the workplace the rules read in it alone
    assert [(m.id, m.kind.value) for m in removed] == [(mid, "episode"), (removed[1].id, "profile")]
    assert "Globex" in removed[1].text
    with pytest.raises(NotFoundError):
        await amem.get(mid)
    assert mid not in {h.memory.id for h in await amem.search("Globex", user_id="u")}
    events = await amem.history(mid)
    assert [(e.event, e.old_text, e.new_text) for e in events] == [
        (Event.ADD, None, "I work at Acme"),
        (Event.UPDATE, "I work at Acme", "I work at Globex"),
        (Event.NOOP, "I work at Globex", "I work at Globex"),
        (Event.DELETE, "I work at Globex", None),
    ]


async def test_scope_is_enforced_on_reads_by_id(amem: AsyncMemory) -> None:
    mid = (await amem.add("secret plan", user_id="alice"))[0].id
    with pytest.raises(NotFoundError):
        await amem.get(mid, user_id="mallory")
    with pytest.raises(NotFoundError):
        await amem.delete(mid, user_id="mallory")
    assert (await amem.get(mid, user_id="alice")).text == "secret plan"


async def test_delete_all_and_reset(amem: AsyncMemory) -> None:
    await amem.add(["one", "two", "three"], user_id="a")
    await amem.add(["four"], user_id="b")
    assert await amem.delete_all(user_id="a") == 3
    assert (await amem.get_all(user_id="a")).total == 0
    assert (await amem.get_all(user_id="b")).total == 1
    await amem.reset()
    assert (await amem.get_all(user_id="b")).total == 0
    assert await amem.search("four", user_id="b") == []


async def test_a_delete_all_that_fails_midway_says_how_many_went_and_a_retry_finishes(
    amem: AsyncMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It commits 1,000 at a time; its second commit fails here, as a backend going down would.
    for start in (0, 750):
        await amem.add([f"note number {i}" for i in range(start, start + 750)], user_id="a")
    commit, calls = amem.storage.commit, []

    async def failing_second(changes: Any) -> Any:
        calls.append(len(changes.deletes))
        if len(calls) == 2:
            raise StorageError("the vector index is unreachable")
        return await commit(changes)

    monkeypatch.setattr(amem.storage, "commit", failing_second)
    with pytest.raises(StorageError) as err:
        await amem.delete_all(user_id="a")
    assert err.value.details["deleted"] == 1000 and "1000 of the 1500 memories were deleted: rerun" in err.value.message
    assert (await amem.get_all(user_id="a")).total == 500
    monkeypatch.setattr(amem.storage, "commit", commit)
    assert await amem.delete_all(user_id="a") == 500
    assert (await amem.get_all(user_id="a")).total == 0


async def test_get_all_pages_and_filters(amem: AsyncMemory) -> None:
    await amem.add([f"note number {i}" for i in range(25)], user_id="u")
    await amem.add(CHAT, user_id="u")
    page = await amem.get_all(user_id="u", limit=10, offset=20)
    assert page.total == 28 and len(page.items) == 8
    assistant = await amem.get_all(user_id="u", filters={"role": "assistant"})
    assert [m.text for m in assistant.items] == [CHAT[1]["content"]]


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [
        (lambda m: m.add("hello"), InvalidInputError, "user_id"),
        (lambda m: m.add("", user_id="u"), InvalidInputError, "messages[0]"),
        (lambda m: m.add([], user_id="u"), InvalidInputError, "messages"),
        (lambda m: m.add("x" * 40_000, user_id="u"), PayloadTooLargeError, "messages[0]"),
        (lambda m: m.add(["x"] * 1001, user_id="u"), PayloadTooLargeError, "messages"),
        (lambda m: m.add([{"role": "user"}], user_id="u"), InvalidInputError, "messages[0].content"),
        (
            lambda m: m.add([{"role": "boss", "content": "hi"}], user_id="u"),
            InvalidInputError,
            "messages[0].role",
        ),
        (lambda m: m.add([{"content": 5}], user_id="u"), InvalidInputError, "messages[0].content"),
        (lambda m: m.add("hi", user_id="u", metadata=[1]), InvalidInputError, "metadata"),
        (lambda m: m.add("hi", user_id="u", timestamp="soon"), InvalidInputError, "timestamp"),
        (lambda m: m.add("hi", user_id=""), InvalidInputError, "user_id"),
        (lambda m: m.add("hi", user_id="u", mode="fine"), NotSupportedError, "mode"),
        (lambda m: m.add("hi", user_id="u", mode="turbo"), InvalidInputError, "mode"),
        (lambda m: m.add("bad \ud800 text", user_id="u"), InvalidInputError, "messages[0]"),
        (lambda m: m.search("q"), InvalidInputError, "user_id"),
        (lambda m: m.search("", user_id="u"), InvalidInputError, "query"),
        (lambda m: m.search("q", user_id="u", limit=0), InvalidInputError, "limit"),
        (lambda m: m.search("q", user_id="u", limit=10**6), InvalidInputError, "limit"),
        (lambda m: m.search("q", user_id="u", threshold=2), InvalidInputError, "threshold"),
        (
            lambda m: m.search("q", user_id="u", filters={"a": {"bogus": 1}}),
            InvalidFilterError,
            "filters.a.bogus",
        ),
        (lambda m: m.get_all(), InvalidInputError, "user_id"),
        (lambda m: m.get("nope"), NotFoundError, "memory_id"),
        (lambda m: m.update("nope", "x"), NotFoundError, "memory_id"),
        (lambda m: m.update("nope"), InvalidInputError, "text"),
        (lambda m: m.history("nope"), NotFoundError, "memory_id"),
        (lambda m: m.delete_all(), InvalidInputError, "user_id"),
    ],
)
async def test_bad_input_names_the_field_and_changes_nothing(amem: AsyncMemory, call, error, field) -> None:  # type: ignore[no-untyped-def]
    await amem.add("already here", user_id="u")
    with pytest.raises(error) as info:
        await call(amem)
    assert info.value.field == field
    page = await amem.get_all(user_id="u")
    assert [m.text for m in page.items] == ["already here"]


async def test_hostile_unicode_is_stored_and_searchable(amem: AsyncMemory) -> None:
    texts = [
        "emoji 😀🔥 party",
        "مرحبا بالعالم",
        "control \x01\x02 chars",
        "混合 text 中文 搜索",
        "\u202eevil",
    ]
    results = await amem.add(texts, user_id="u")
    assert all(r.event is Event.ADD for r in results)
    assert (await amem.search("中文搜索", user_id="u"))[0].memory.text == "混合 text 中文 搜索"
    assert (await amem.search("بالعالم", user_id="u"))[0].memory.text == "مرحبا بالعالم"


async def test_concurrent_adds_all_land(amem: AsyncMemory) -> None:
    results = await asyncio.gather(*[amem.add(f"parallel message {i}", user_id="u") for i in range(40)])
    assert all(r[0].event is Event.ADD for r in results)
    assert (await amem.get_all(user_id="u", limit=100)).total == 40


async def test_the_same_message_sent_twice_at_once_is_stored_once(amem: AsyncMemory) -> None:
    message = [{"role": "user", "content": "I adopted a golden retriever named Biscuit."}]
    outs = await asyncio.gather(*[amem.add(message, user_id="ana", run_id="s1") for _ in range(3)])
    events = sorted(o[0].event.value for o in outs)
    assert events == ["ADD", "NOOP", "NOOP"]
    stored = {o[0].id for o in outs}
    assert len(stored) == 1  # the NOOPs name the memory that was stored
    assert (await amem.get_all(user_id="ana", filters={"kind": "episode"})).total == 1
    # Adds of other users do not wait for each other's lock, and all land.
    others = await asyncio.gather(*[amem.add(message, user_id=f"user{i}") for i in range(4)])
    assert all(o[0].event is Event.ADD for o in others)


async def test_reopen_keeps_data_and_refuses_another_embedder(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    async with AsyncMemory(settings, embedder=embedder) as first:
        mid = (await first.add("durable memory", user_id="u"))[0].id
    async with AsyncMemory(settings, embedder=embedder) as second:
        assert (await second.search("durable", user_id="u"))[0].memory.id == mid

    class Tiny:
        name, dim = "tiny-test-embedder", 4

        def embed(self, texts):  # type: ignore[no-untyped-def]
            import numpy as np

            return np.ones((len(texts), 4), dtype=np.float32) / 2

    with pytest.raises(EmbedderMismatchError, match="use-multilingual-v3"):
        await AsyncMemory(settings, embedder=Tiny()).open()  # type: ignore[arg-type]


def test_sync_wrapper_has_the_same_api(mem: Memory) -> None:
    added = mem.add(CHAT, user_id="ana")
    assert [r.event for r in added] == [Event.ADD] * 3
    assert mem.search("dog", user_id="ana")[0].memory.text.startswith("I adopted")
    assert mem.get(added[0].id).text == CHAT[0]["content"]
    assert mem.update(added[0].id, "I adopted a beagle").memory.text == "I adopted a beagle"
    assert [e.event for e in mem.history(added[0].id)] == [Event.ADD, Event.UPDATE]
    assert mem.get_all(user_id="ana").total == 3
    mem.delete(added[0].id)
    assert mem.delete_all(user_id="ana") == 2
    assert mem.health()["status"] == "ok"
    public = {n for n in vars(AsyncMemory) if not n.startswith("_")}
    assert public - set(vars(Memory)) == set()  # warm, open, embedder, ... were missing
    mem.warm()
    assert mem.loaded_embedder is mem.embedder and mem.open() is mem


def test_a_file_that_is_not_a_store_is_named_and_leaves_no_thread(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    import threading

    settings.storage.path.write_text("a shopping list, not a database\n")
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(StorageError, match=f"cannot open storage.path {re.escape(str(settings.storage.path))}"):
        Memory(settings, embedder=embedder)
    assert {t.ident for t in threading.enumerate()} <= before  # the failed wrapper's loop thread ended
    assert settings.storage.path.read_text() == "a shopping list, not a database\n"  # untouched


def test_a_store_another_program_holds_locked_is_said_to_be_locked_not_to_be_moved(tmp_path: Path) -> None:
    # what opening says once SQLite's 30 s busy wait ran out: not "move it aside" (a live database)
    import sqlite3

    from memoryd.storage.sqlite.database import SQLiteDatabase

    db = SQLiteDatabase(tmp_path / "m.db")
    err = db._open_error(sqlite3.OperationalError("database is locked"))
    assert isinstance(err, StorageError) and err.field == "storage.path"
    assert "another program holds it locked" in err.message and "move it aside" not in err.message
    other = db._open_error(sqlite3.DatabaseError("file is not a database"))
    assert isinstance(other, StorageError) and "move it aside" in other.message


async def test_history_is_scoped_even_after_deletion(amem: AsyncMemory) -> None:
    mid = (await amem.add("private note", user_id="alice"))[0].id
    await amem.delete(mid)
    assert [e.event for e in await amem.history(mid, user_id="alice")] == [Event.ADD, Event.DELETE]
    with pytest.raises(NotFoundError):
        await amem.history(mid, user_id="mallory")


@pytest.mark.parametrize(("call", "field"), [
    (lambda m: m.add("hi", user_id="bad\ud800"), "user_id"),
    (lambda m: m.add("hi", user_id="u", metadata={"k": "v\udfff"}), "metadata"),
    (lambda m: m.search("q\ud800", user_id="u"), "query"),
    (lambda m: m.search("q", user_id="u", filters={"k": "v\ud800"}), "filters.k"),
    (lambda m: m.get("id\ud800"), "memory_id"),
])
async def test_lone_surrogates_are_rejected_not_crashed(amem: AsyncMemory, call, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError) as info:
        await call(amem)
    assert info.value.field == field


async def test_get_all_default_page_respects_a_small_limit_ceiling(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    small = settings.model_copy(update={"limits": settings.limits.model_copy(update={"max_limit": 5})})
    async with AsyncMemory(small, embedder=embedder) as mem:
        await mem.add([f"item {i}" for i in range(8)], user_id="u")
        page = await mem.get_all(user_id="u")
        assert (page.total, len(page.items), page.limit) == (8, 5, 5)


async def test_a_failed_open_leaves_nothing_running(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    import threading

    from memoryd import StorageError, load_settings

    (tmp_path / "file").write_text("x")
    bad = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "file" / "m.db")}})
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(StorageError) as info:
        await AsyncMemory(bad, embedder=embedder).open()
    assert info.value.field == "storage.path"
    assert not {t.name for t in threading.enumerate()} - before


async def test_a_refused_embedder_does_not_leak_the_writer_thread(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    import threading

    import numpy as np

    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add("built with USE", user_id="u")

    class Other:
        name, dim = "other-model", 8

        def embed(self, texts):  # type: ignore[no-untyped-def]
            return np.ones((len(texts), 8), dtype=np.float32)

    writers = sum(t.name == "memoryd-sqlite-writer" for t in threading.enumerate())
    with pytest.raises(EmbedderMismatchError):
        await AsyncMemory(settings, embedder=Other()).open()  # type: ignore[arg-type]
    assert sum(t.name == "memoryd-sqlite-writer" for t in threading.enumerate()) == writers


async def test_writes_by_another_process_are_seen_by_loaded_indexes(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    # Two AsyncMemory objects on one file have separate connections and writer threads,
    # exactly like the server and a CLI process sharing the store.
    async with AsyncMemory(settings, embedder=embedder) as server, \
            AsyncMemory(settings, embedder=embedder) as cli:
        await server.add("the server's own memory", user_id="u")
        assert len(await server.search("memory", user_id="u")) == 1  # partitions now loaded
        added = (await cli.add("a zebra crossing near the office", user_id="u"))[0].id
        hits = await server.search("zebra crossing", user_id="u", explain=True)
        assert hits[0].memory.id == added and hits[0].explain["bm25_rank"] == 1  # type: ignore[index]
        await cli.delete(added)
        assert added not in {h.memory.id for h in await server.search("zebra crossing", user_id="u")}
        await server.add("another own write", user_id="u")  # own writes keep the caches
        assert len(await server.search("write", user_id="u")) == 2
        # what context() asks again and again (the profile): a profile written elsewhere shows
        assert "Ana" not in (await server.context("who am I", user_id="u")).text
        await cli.add("My name is Ana.", user_id="u")
        assert "The user's name is Ana." in (await server.context("who am I", user_id="u")).text


async def test_a_row_whose_metadata_cannot_be_read_stays_readable_and_keeps_its_text(
    settings: Settings, embedder  # type: ignore[no-untyped-def]
) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        good = (await mem.add("My dog is called Rex", user_id="u"))[0].id
        bad = (await mem.add("My cat is called Tom", user_id="u", metadata={"pet": "cat"}))[0].id
    with sqlite3.connect(settings.storage.path) as conn:  # bit rot, or a bad manual edit
        conn.execute("""UPDATE memories SET metadata = '{"pet": "ca' WHERE id = ?""", (bad,))
    async with AsyncMemory(settings, embedder=embedder) as mem:
        damaged = await mem.get(bad)
        assert damaged.text == "My cat is called Tom"
        assert damaged.metadata == {"memoryd_damaged": {"metadata": '{"pet": "ca', "source_ids": "[]"}}
        assert {h.memory.id for h in await mem.search("pets called", user_id="u")} == {good, bad}
        assert (await mem.get_all(user_id="u")).total == 2


async def test_a_write_that_failed_at_commit_does_not_hide_another_processs_next_one(
    settings: Settings, embedder  # type: ignore[no-untyped-def]
) -> None:
    async with AsyncMemory(settings, embedder=embedder) as server, \
            AsyncMemory(settings, embedder=embedder) as cli:
        rex = (await server.add("My dog is called Rex", user_id="u"))[0].id
        assert (await server.get(rex)).text == "My dog is called Rex"  # cached
        assert [h.memory.id for h in await server.search("dog", user_id="u")] == [rex]

        def fails_at_commit(conn: sqlite3.Connection) -> None:  # a deferred constraint: COMMIT refuses
            conn.execute("CREATE TABLE parent_t (id INTEGER PRIMARY KEY)")
            conn.execute("CREATE TABLE child_t (pid INTEGER REFERENCES parent_t(id) DEFERRABLE INITIALLY DEFERRED)")
            conn.execute("INSERT INTO child_t VALUES (42)")

        with pytest.raises(MemorydError):
            await server.storage.records.db.write(fails_at_commit)
        await cli.delete(rex)  # one commit of another process: the generation the failed one had
        with pytest.raises(NotFoundError):
            await server.get(rex)
        assert await server.search("dog", user_id="u") == []


async def test_a_text_embedded_a_moment_ago_is_not_embedded_again(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    """The gateway embeds the user's message to look up memories, then stores it; a session's
    next turn re-reads the previous one as context: the model sees each text once."""

    class Counting:
        name, dim, inline_texts = embedder.name, embedder.dim, embedder.inline_texts

        def __init__(self) -> None:
            self.texts: list[str] = []

        def embed(self, texts):  # type: ignore[no-untyped-def]
            self.texts += list(texts)
            return embedder.embed(texts)

    counting = Counting()
    async with AsyncMemory(settings, embedder=counting) as mem:
        question = "what was the name of my first dog?"
        await mem.search(question, user_id="u")
        await mem.add([{"role": "user", "content": question}, {"role": "assistant", "content": "Rex."}],
                      user_id="u", run_id="s")
        await mem.add([{"role": "user", "content": "and my cat?"}], user_id="u", run_id="s")
        assert counting.texts.count(question) == 1
        assert counting.texts.count("Rex.") == 1  # also the context of the session's next turn
        found = await mem.search(question, user_id="u")
        assert found[0].memory.text == question  # the reused vector is the text's own


async def test_a_stored_time_outside_the_datetime_range_reads_as_its_end(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    """Times past year 9999 in UTC are refused now; a row stored before that stays readable."""
    async with AsyncMemory(settings, embedder=embedder) as mem:
        added = await mem.add(["far future", "far past"], user_id="u")
    with sqlite3.connect(settings.storage.path) as conn:
        conn.execute("UPDATE memories SET event_time = 1e12 WHERE id = ?", (added[0].id,))
        conn.execute("UPDATE memories SET event_time = -1e12 WHERE id = ?", (added[1].id,))
    async with AsyncMemory(settings, embedder=embedder) as mem:
        times = {m.text: m.event_time for m in (await mem.get_all(user_id="u")).items}
        assert times == {"far future": datetime.max.replace(tzinfo=UTC), "far past": datetime.min.replace(tzinfo=UTC)}
        assert [h.memory.text for h in await mem.search("far future", user_id="u", limit=1)] == ["far future"]
        await mem.delete_all(user_id="u")
        assert (await mem.get_all(user_id="u")).items == []


def _nested(levels: int) -> dict[str, Any]:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return {"a": value}


@pytest.mark.parametrize("levels", [300, 100_000])
async def test_metadata_too_deep_to_serve_is_refused_not_stored(amem: AsyncMemory, levels: int) -> None:
    # 300 levels could be stored, but no JSON response holding it could be written after;
    # 100,000 used to raise RecursionError (a 500) while being checked.
    with pytest.raises(InvalidInputError) as refused:
        await amem.add("deep", user_id="deep", metadata=_nested(levels))
    assert refused.value.field == "metadata"
    kept = (await amem.add("shallow", user_id="deep", metadata=_nested(60)))[0]
    with pytest.raises(InvalidInputError):
        await amem.update(kept.id, metadata=_nested(levels))
    assert [m.text for m in (await amem.get_all(user_id="deep")).items] == ["shallow"]


async def test_paging_as_of_the_first_page_keeps_adds_made_meanwhile_out(amem: AsyncMemory) -> None:
    """docs/api.md: offset pages shift under concurrent adds; as_of fixed at the first page does not."""
    for i in range(10):
        await amem.add(f"note number {i}", user_id="u")
    first = await amem.get_all(user_id="u", limit=4)
    start = utcnow()
    for i in range(3):
        await amem.add(f"later note {i}", user_id="u")
    shifted = await amem.get_all(user_id="u", limit=4, offset=4)
    assert {m.id for m in shifted.items} & {m.id for m in first.items}  # without as_of: seen twice
    pages = [await amem.get_all(user_id="u", limit=4, offset=offset, as_of=start) for offset in (0, 4, 8)]
    walked = [m.text for page in pages for m in page.items]
    assert walked == [f"note number {i}" for i in range(9, -1, -1)]
