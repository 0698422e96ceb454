"""A store records the index format its keyword terms were made with: an older store's terms
are made again when it opens (vectors kept, no model run), a newer store is refused."""

from __future__ import annotations

import logging
import sqlite3

import numpy as np
import pytest

from memoryd import AsyncMemory, ConflictError, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.ingest.represent import INDEX_FORMAT
from memoryd.maintenance import check_store, reindex_store
from memoryd.models import Scope
from tests.faults.embedders import CountingEmbedder

TURNS = [
    {"role": "user", "content": "Yarın İstanbul'a uçuyorum", "name": "Ayşe"},
    {"role": "assistant", "content": "İyi yolculuklar!"},
    {"role": "user", "content": "We met at the Café de Flore in Zürich"},
    {"role": "user", "content": "我的朋友王小明住在北京"},
]


def _old_terms(settings: Settings, fmt: str | None) -> None:
    """Make the store look as an older release left it: terms its tokenizer made, its format."""
    with sqlite3.connect(settings.storage.path) as conn:
        conn.execute("UPDATE kw SET body = 'made by the old tokenizer'")
        if fmt is None:
            conn.execute("DELETE FROM meta WHERE key = 'index_format'")  # a store from before formats
        else:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('index_format', ?)", (fmt,))


async def _index(mem: AsyncMemory) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    ids = [m.id for m in (await mem.storage.records.scan(Scope()))[0]]
    return await mem.storage.keywords.terms(ids), await mem.storage.vectors.vectors(ids)


async def test_new_store_records_format_and_reopens(settings: Settings, embedder: USEEmbedder) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add("I like running", user_id="u")
        assert await mem.storage.records.get_meta("index_format") == INDEX_FORMAT
    async with AsyncMemory(settings, embedder=embedder) as mem:
        hits = await mem.search("runs", user_id="u", filters={"kind": "episode"})
        assert [h.memory.text for h in hits] == ["I like running"]


@pytest.mark.parametrize("fmt", [None, "2", "3"])
async def test_an_older_store_gets_this_releases_terms_when_it_opens(
    settings: Settings, embedder: USEEmbedder, fmt: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add(TURNS, user_id="u", run_id="s1")
        terms, vectors = await _index(mem)
    _old_terms(settings, fmt)
    counted = CountingEmbedder(embedder)
    with caplog.at_level(logging.WARNING, logger="memoryd.maintenance.terms"):
        async with AsyncMemory(settings, embedder=counted) as mem:  # type: ignore[arg-type]
            assert await mem.storage.records.get_meta("index_format") == INDEX_FORMAT
            after_terms, after_vectors = await _index(mem)
    assert counted.texts == 0  # no model ran
    assert after_terms == terms  # the terms ingestion made: speaker and previous turn included
    assert all(np.array_equal(vectors[i], after_vectors[i]) for i in vectors)
    assert "upgraded the keyword terms of 4 memories" in caplog.text
    async with AsyncMemory(settings, embedder=embedder) as mem:
        for query, text in [("istanbul", TURNS[0]), ("cafe zurich", TURNS[2]), ("小明", TURNS[3])]:
            hits = await mem.search(query, user_id="u", explain=True)
            found = [h.memory.text for h in hits if h.explain and h.explain["bm25"] is not None]
            assert found[0] == text["content"], query


async def test_a_store_of_a_newer_format_is_refused(settings: Settings, embedder: USEEmbedder) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add("I like running", user_id="u")
    _old_terms(settings, str(int(INDEX_FORMAT) + 1))
    with pytest.raises(ConflictError, match="newer memoryd") as err:
        await AsyncMemory(settings, embedder=embedder).open()
    assert err.value.field == "storage.path"
    with sqlite3.connect(settings.storage.path) as conn:  # and left as it was
        assert {body for (body,) in conn.execute("SELECT body FROM kw")} == {"made by the old tokenizer"}


async def test_reindex_writes_this_releases_format(settings: Settings, embedder: USEEmbedder) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add("Yarın İstanbul'a uçuyorum", user_id="u")
    with sqlite3.connect(settings.storage.path) as conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'index_format'")
    await reindex_store(settings, embedder=embedder)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        assert await mem.storage.records.get_meta("index_format") == INDEX_FORMAT
        hits = await mem.search("istanbul", user_id="u", explain=True)
        assert hits[0].explain is not None and hits[0].explain["bm25_rank"] == 1  # found by its word


async def test_check_reports_terms_of_another_format_or_tokenizer(settings: Settings, embedder: USEEmbedder) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add(TURNS, user_id="u", run_id="s1")
    assert (await check_store(settings, embedder=embedder)).ok  # speaker and previous turn: this release's

    _old_terms(settings, "3")  # as the older release left it, before any open
    [problem] = (await check_store(settings, embedder=embedder)).problems
    assert problem.role == "keywords" and "index format 3" in problem.message
    assert "memoryd reindex --keywords-only" in problem.fix
    await AsyncMemory(settings, embedder=embedder).open()  # and the next open remakes them
    assert (await check_store(settings, embedder=embedder)).ok

    # An older release still running after the upgrade writes its tokenizer's terms under format 4.
    with sqlite3.connect(settings.storage.path) as conn:
        conn.execute("UPDATE kw SET body = 'yarın istanbul''a uçuyorum' WHERE rowid = 1")
    [problem] = (await check_store(settings, embedder=embedder)).problems
    assert problem.message.startswith("1 keyword entry holds terms this memoryd does not make"), problem
    assert "memoryd reindex --keywords-only" in problem.fix
    await reindex_store(settings, keywords_only=True)
    assert (await check_store(settings, embedder=embedder)).ok

    _old_terms(settings, None)  # from before formats: format 1, which the next open upgrades
    [problem] = (await check_store(settings, embedder=embedder)).problems
    assert "index format 1" in problem.message and "memoryd reindex --keywords-only" in problem.fix

    _old_terms(settings, "99")
    [problem] = (await check_store(settings, embedder=embedder)).problems
    assert "a newer memoryd" in problem.message and "newer memoryd" in problem.fix
