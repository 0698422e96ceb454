"""Another process's commits drop what a server cached of the rows they touched, and only that.

Every memoryd command opens the store, which creates the schema when missing: that write changed
no row, yet it counted as a commit, and the server threw away every index partition and record
cache (a 30k-memory user's next search: 7 ms -> 530 ms). Then any foreign write emptied them all:
a worker writing for other users cost a server's loaded users the same reload, every time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.storage import ChangeSet, StoredMemory
from memoryd.storage.sqlite import changes
from memoryd.storage.sqlite.keywords import SQLiteKeywordIndex
from memoryd.storage.sqlite.vectors import SQLiteVectorIndex


def _loads(mem: AsyncMemory) -> tuple[int, int]:
    vectors, keywords = mem.storage.vectors, mem.storage.keywords
    assert isinstance(vectors, SQLiteVectorIndex) and isinstance(keywords, SQLiteKeywordIndex)
    return vectors.cache.loads, keywords.cache.loads


@pytest.fixture
async def loaded(tmp_path: Path, embedder: USEEmbedder) -> AsyncIterator[tuple[AsyncMemory, Settings]]:
    """A server holding ana's 20 notes, her indexes loaded, and the settings of its store."""
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})
    async with AsyncMemory(settings, embedder=embedder) as server:
        await server.add([f"note {i} about the garden" for i in range(20)], user_id="ana")
        await server.search("garden", user_id="ana")
        yield server, settings


async def test_opening_and_reading_the_store_elsewhere_keeps_the_servers_caches(
    loaded: tuple[AsyncMemory, Settings], embedder: USEEmbedder
) -> None:
    server, settings = loaded
    before = _loads(server)
    async with AsyncMemory(settings, embedder=embedder) as command:  # `memoryd list`, say
        assert len((await command.get_all(user_id="ana")).items) == 20
        assert await command.history((await command.get_all(user_id="ana")).items[0].id)
    assert len(await server.search("garden", user_id="ana", limit=50)) == 20
    assert _loads(server) == before  # nothing of the file changed: the partitions stand


async def test_a_write_for_another_user_elsewhere_keeps_this_users_partitions(
    loaded: tuple[AsyncMemory, Settings], embedder: USEEmbedder
) -> None:
    server, settings = loaded
    async with AsyncMemory(settings, embedder=embedder) as worker:
        before = _loads(server)
        await worker.add("a note about the shed", user_id="bo", run_id="s1")
        assert len(await server.search("garden", user_id="ana", limit=50)) == 20
        assert _loads(server) == before  # bo's write left ana's partitions loaded
        assert "shed" in (await server.search("shed", user_id="bo"))[0].memory.text
        assert "shed" in (await server.search("shed", user_id="bo", run_id="s1"))[0].memory.text

        before = _loads(server)
        # ana's own partitions take in what the worker wrote for her, row by row: no reload
        gate = (await worker.add("the garden gate is painted green", user_id="ana"))[0].id
        hits = await server.search("garden gate painted green", user_id="ana", explain=True)
        assert hits[0].memory.id == gate and hits[0].explain["bm25_rank"] == 1  # type: ignore[index]
        await worker.update(gate, "the garden gate is painted blue")
        assert (await server.get(gate)).text.endswith("blue")
        hits = await server.search("gate painted blue", user_id="ana", explain=True)
        assert hits[0].memory.text.endswith("blue") and hits[0].explain["bm25_rank"] == 1  # type: ignore[index]
        await worker.delete(gate)
        assert gate not in {h.memory.id for h in await server.search("garden gate", user_id="ana")}
        assert _loads(server) == before


async def test_a_write_of_too_many_memories_to_list_reloads_their_scope(
    loaded: tuple[AsyncMemory, Settings], embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, settings = loaded
    async with AsyncMemory(settings, embedder=embedder) as worker:
        before = _loads(server)
        monkeypatch.setattr(changes, "MAX_IDS", 3)
        await worker.add([f"fact {i} about the orchard" for i in range(6)], user_id="ana")
        assert len(await server.search("orchard", user_id="ana", limit=50)) == 26
        assert {h.memory.text for h in await server.search("fact about the orchard", user_id="ana")} >= {
            f"fact {i} about the orchard" for i in range(6)
        }
        assert _loads(server) == (before[0] + 1, before[1] + 1)  # reloaded once, from the file


async def test_an_index_written_alone_elsewhere_is_seen(
    loaded: tuple[AsyncMemory, Settings], embedder: USEEmbedder
) -> None:
    """The index tables have no triggers: their stores log what they write. A vector rewritten or
    dropped without its record (a reindex's batch does that) reaches the loaded partitions."""
    server, settings = loaded
    [note] = [h.memory for h in await server.search("note 7 about the garden", user_id="ana", limit=1)]
    async with AsyncMemory(settings, embedder=embedder) as worker:
        other = embedder.embed(["the price of tea in Shanghai"])[0]
        await worker.storage.vectors.apply(ChangeSet(upserts=[StoredMemory(note, other, None)]))
        hit = (await server.search("the price of tea in Shanghai", user_id="ana", explain=True))[0]
        assert hit.memory.id == note.id and hit.explain["dense_cosine"] > 0.99  # type: ignore[index,operator]
        await worker.storage.vectors.apply(ChangeSet(deletes=[note.id]))
        hits = await server.search("note 7 about the garden", user_id="ana", explain=True, limit=20)
        mine = next(h for h in hits if h.memory.id == note.id)  # still found by its words
        assert mine.explain["dense_rank"] is None  # type: ignore[index]
        await worker.storage.vectors.reset()
        assert all(h.explain["dense_rank"] is None  # type: ignore[index]
                   for h in await server.search("garden", user_id="ana", explain=True))  # fmt: skip
