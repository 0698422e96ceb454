"""A store records the index format it was built with; another format is refused, by name."""

from __future__ import annotations

import sqlite3

import pytest

from memoryd import AsyncMemory, ConflictError, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.ingest.represent import INDEX_FORMAT
from memoryd.maintenance import reindex_store


async def test_new_store_records_format_and_reopens(settings: Settings, embedder: USEEmbedder) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add("I like running", user_id="u")
        assert await mem.storage.records.get_meta("index_format") == INDEX_FORMAT
    async with AsyncMemory(settings, embedder=embedder) as mem:
        hits = await mem.search("runs", user_id="u", filters={"kind": "episode"})
        assert [h.memory.text for h in hits] == ["I like running"]


async def test_store_of_another_format_is_refused(settings: Settings, embedder: USEEmbedder) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add("I like running", user_id="u")
    with sqlite3.connect(settings.storage.path) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'index_format'")  # a store from before formats
    with pytest.raises(ConflictError, match="index format 1") as err:
        await AsyncMemory(settings, embedder=embedder).open()
    assert err.value.field == "storage.path"


async def test_a_store_of_an_older_format_names_reindex_which_upgrades_it(
    settings: Settings, embedder: USEEmbedder
) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add("Yarın İstanbul'a uçuyorum", user_id="u")
    with sqlite3.connect(settings.storage.path) as conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'index_format'")  # terms of the old tokenizer
    with pytest.raises(ConflictError, match="memoryd reindex"):
        await AsyncMemory(settings, embedder=embedder).open()
    await reindex_store(settings, embedder=embedder)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        hits = await mem.search("istanbul", user_id="u", explain=True)
        assert hits[0].explain is not None and hits[0].explain["bm25_rank"] == 1  # found by its word
