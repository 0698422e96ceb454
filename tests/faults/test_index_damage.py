"""The vector (or keyword) index missing, damaged or half rebuilt: a clear error naming
`memoryd reindex`, `memoryd check` says what is wrong, and reindex repairs it from the records.

The damage is done to the real SQLite file with sqlite3, while no memoryd has it open.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import Result

from memoryd import AsyncMemory, Settings, StorageError, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store, reindex_store
from memoryd.models import Scope
from memoryd.storage import build_storage
from tests.faults.embedders import CountingEmbedder

QUERIES = ("how did the deal feel?", "where do I hike?", "pets")


def damage(path: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    conn = sqlite3.connect(path)
    try:
        for sql in statements:
            conn.execute(sql, params if "?" in sql else ())
        conn.commit()
    finally:
        conn.close()


async def build(tmp_path: Path, embedder: USEEmbedder) -> tuple[Settings, list[list[tuple[str, float]]]]:
    """A store with sessions, speakers, an update and a deletion; its answers to QUERIES."""
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "idx.db")}})
    async with AsyncMemory(settings, embedder=embedder) as mem:
        turns = [
            {"role": "user", "content": "How did it feel to seal the deal?", "name": "Tim"},
            {"role": "assistant", "content": "It felt crazy, honestly.", "name": "John"},
        ]
        await mem.add(turns, user_id="u", run_id="s1")
        await mem.add(["I love hiking in the Alps", "My dog is called Biscuit"], user_id="u", run_id="s2")
        extra = await mem.add("a cat named Tom", user_id="u")
        await mem.update(extra[0].id, "a cat named Tom Junior")
        gone = await mem.add("delete me", user_id="u")
        await mem.delete(gone[0].id)
        return settings, await answers(mem)


async def answers(mem: AsyncMemory) -> list[list[tuple[str, float]]]:
    out = []
    for query in QUERIES:
        out.append([(h.memory.id, round(h.score, 5)) for h in await mem.search(query, user_id="u", limit=4)])
    return out


async def repaired(settings: Settings, embedder: USEEmbedder, before: list[list[tuple[str, float]]]) -> None:
    summary = await reindex_store(settings, embedder=embedder, batch_size=2)
    assert summary.memories == 6 and summary.model == embedder.name
    report = await check_store(settings, embedder=embedder)
    assert report.ok, report.problems
    async with AsyncMemory(settings, embedder=embedder) as mem:
        assert await answers(mem) == before


async def test_missing_vector_table(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings, before = await build(tmp_path, embedder)
    damage(settings.storage.path, "DROP TABLE vectors")
    with pytest.raises(StorageError, match=r"vector index .* is missing .*`memoryd reindex`") as caught:
        await AsyncMemory(settings, embedder=embedder).open()
    assert caught.value.details["repair"] == "memoryd reindex"
    report = await check_store(settings, embedder=embedder)
    assert [p.role for p in report.problems] == ["vectors"] and "reindex" in report.problems[0].fix
    await repaired(settings, embedder, before)


@pytest.mark.parametrize(
    ("corruption", "complaint"),
    [
        (b"\x00" * 7, "not 512 float32 numbers"),
        (np.full(512, np.nan, dtype=np.float32).tobytes(), "not finite"),
    ],
    ids=["truncated", "nan"],
)
async def test_damaged_vectors(tmp_path: Path, embedder: USEEmbedder, corruption: bytes, complaint: str) -> None:
    settings, before = await build(tmp_path, embedder)
    damage(settings.storage.path, "UPDATE vectors SET vec = ? WHERE rowid = 2", params=(corruption,))
    async with AsyncMemory(settings, embedder=embedder) as mem:
        with pytest.raises(StorageError, match=r"vector index is damaged.*`memoryd reindex`"):
            await mem.search("anything", user_id="u")
        assert (await mem.get_all(user_id="u")).total == 6  # the records are fine
    report = await check_store(settings, embedder=embedder)
    assert len(report.problems) == 1 and complaint in report.problems[0].message
    await repaired(settings, embedder, before)


async def test_a_vector_of_bytes_no_float32_makes_is_exported_without_it_and_embedded_again(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    from memoryd.portability import export_store, import_store

    settings, before = await build(tmp_path, embedder)
    damage(settings.storage.path, "UPDATE vectors SET vec = zeroblob(7) WHERE rowid = 2")
    async with AsyncMemory(settings, embedder=embedder) as mem:
        summary = await export_store(mem, tmp_path / "all.jsonl")  # read them: 7 bytes are no vector
    assert summary.left_out == {"index": 1}
    moved = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "new" / "idx.db")}})
    counted = CountingEmbedder(embedder)
    async with AsyncMemory(moved, embedder=counted) as mem:  # type: ignore[arg-type]
        await import_store(mem, tmp_path / "all.jsonl")
        assert counted.texts == 2  # that one embedded again, and the turn before it, mixed in as ingestion did
        assert await answers(mem) == before
    assert (await check_store(moved, embedder=embedder)).ok


async def test_a_zeroed_vector_is_reported_and_repaired(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings, before = await build(tmp_path, embedder)
    damage(settings.storage.path, "UPDATE vectors SET vec = zeroblob(length(vec)) WHERE rowid = 2")
    report = await check_store(settings, embedder=embedder)  # it matches nothing by meaning any more
    assert [p.role for p in report.problems] == ["vectors"]
    assert "not finite, unit length" in report.problems[0].message
    await repaired(settings, embedder, before)


async def test_a_record_this_version_cannot_read(tmp_path: Path, embedder: USEEmbedder) -> None:
    """A kind from a newer memoryd (or damage): every reader names the memory, check reports it,
    and reindex refuses before it discards anything."""
    settings, before = await build(tmp_path, embedder)
    conn = sqlite3.connect(settings.storage.path)
    (mid,) = conn.execute("SELECT id FROM memories WHERE text = 'I love hiking in the Alps'").fetchone()
    conn.close()
    damage(settings.storage.path, "UPDATE memories SET kind = 'insight' WHERE id = ?", params=(mid,))
    async with AsyncMemory(settings, embedder=embedder) as mem:
        with pytest.raises(StorageError, match=f"memory {mid} cannot be read .*'insight'.*`memoryd check`"):
            await mem.get_all(user_id="u")
    report = await check_store(settings, embedder=embedder)
    assert [p.role for p in report.problems] == ["records"] and mid in report.problems[0].message
    with pytest.raises(StorageError, match=f"memory {mid} cannot be read"):
        await reindex_store(settings, embedder=embedder, batch_size=2)
    damage(settings.storage.path, "UPDATE memories SET kind = 'episode' WHERE id = ?", params=(mid,))
    async with AsyncMemory(settings, embedder=embedder) as mem:  # both indexes were left as they were
        assert await answers(mem) == before
    assert (await check_store(settings, embedder=embedder)).ok


async def test_reindex_takes_the_previous_turn_ingestion_took(tmp_path: Path, embedder: USEEmbedder) -> None:
    """A turn stored without an agent follows the session's latest turn of any agent (as
    ingestion's lookup does); one with an agent follows only that agent's."""
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "turns.db")}})
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add("What's your favourite city?", user_id="u", run_id="s1")
        await mem.add("Mine is Kyoto.", user_id="u", agent_id="bot", run_id="s1")
        await mem.add("ok", user_id="u", run_id="s1")  # follows the bot's turn
        await mem.add("yes", user_id="u", agent_id="bot", run_id="s1")  # follows "Mine is Kyoto."
        await mem.add("noted", agent_id="bot", run_id="s1")  # no user: follows any user's
        ids = [m.id for m in (await mem.storage.records.scan(Scope()))[0]]
        before = await mem.storage.vectors.vectors(ids)
        terms = await mem.storage.keywords.terms(ids)
    await reindex_store(settings, embedder=embedder, batch_size=2)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        after = await mem.storage.vectors.vectors(ids)
        assert await mem.storage.keywords.terms(ids) == terms
    assert all(float(np.dot(before[i], after[i])) > 0.9999 for i in ids)


async def test_lost_and_stray_index_rows(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings, before = await build(tmp_path, embedder)
    damage(
        settings.storage.path,
        "DELETE FROM vectors WHERE rowid IN (1, 3)",
        "INSERT INTO vectors (memory_id, user_id, vec) SELECT 'ghost', 'u', vec FROM vectors LIMIT 1",
        "UPDATE kw_docs SET user_id = 'someone-else' WHERE rowid = 2",
        "DELETE FROM kw WHERE rowid = 4",
    )
    report = await check_store(settings, embedder=embedder)
    messages = sorted(f"{p.role}: {p.message.split(' (e.g.')[0]}" for p in report.problems)
    assert messages == [
        "keywords: 1 keyword entry disagrees with its memory's scope or validity",
        "keywords: 1 keyword entry has no terms",
        "vectors: 1 vector belongs to no memory",
        "vectors: 2 memories have no vector",
    ]
    assert all("memoryd reindex" in p.fix for p in report.problems)
    await repaired(settings, embedder, before)


async def test_missing_keyword_tables_and_an_interrupted_reindex(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings, before = await build(tmp_path, embedder)
    damage(settings.storage.path, "DROP TABLE kw")
    with pytest.raises(StorageError, match=r"keyword index .* is missing .*`memoryd reindex --keywords-only`"):
        await AsyncMemory(settings, embedder=embedder).open()
    # A reindex that stops half way (here: after discarding the indexes) leaves the store refused.
    storage = build_storage(settings)
    await storage.records.open()
    await storage.keywords.open(rebuild=True)
    await storage.vectors.open(embedder.name, embedder.dim, rebuild=True)
    await storage.close()
    with pytest.raises(StorageError, match="did not finish.*run `memoryd reindex` again"):
        await AsyncMemory(settings, embedder=embedder).open()
    report = await check_store(settings, embedder=embedder)
    assert {p.role for p in report.problems} == {"vectors", "keywords"}  # both discarded, neither refilled
    await repaired(settings, embedder, before)


@pytest.mark.parametrize(
    "harm",
    [
        ("DROP TABLE kw",),  # the keyword tables gone: the store refuses to open
        ("DELETE FROM kw WHERE rowid = 4", "UPDATE kw_docs SET user_id = 'someone-else' WHERE rowid = 2"),
        # FTS5 can no longer construct the table ("vtable constructor failed"), so cannot drop it
        ("DELETE FROM kw_data WHERE id = 10",),  # its structure record
        ("UPDATE kw_config SET v = 99 WHERE k = 'version'",),
    ],
)
async def test_a_damaged_keyword_index_is_rebuilt_alone_without_a_model(
    tmp_path: Path, embedder: USEEmbedder, harm: tuple[str, ...]
) -> None:
    settings, before = await build(tmp_path, embedder)
    with sqlite3.connect(settings.storage.path) as conn:
        vectors = conn.execute("SELECT memory_id, vec FROM vectors ORDER BY memory_id").fetchall()
    damage(settings.storage.path, *harm)
    report = await check_store(settings, embedder=embedder)
    assert {p.role for p in report.problems} == {"keywords"}
    assert all("memoryd reindex --keywords-only" in p.fix for p in report.problems)
    counted = CountingEmbedder(embedder)
    summary = await reindex_store(settings, embedder=counted, keywords_only=True)  # type: ignore[arg-type]
    assert summary.memories == 6 and summary.indexes == ("keywords",) and counted.texts == 0
    assert (await check_store(settings, embedder=embedder)).ok
    with sqlite3.connect(settings.storage.path) as conn:  # the vectors were not touched
        assert conn.execute("SELECT memory_id, vec FROM vectors ORDER BY memory_id").fetchall() == vectors
    async with AsyncMemory(settings, embedder=embedder) as mem:
        assert await answers(mem) == before


async def test_a_keyword_index_fts5_cannot_open_names_its_repair_and_a_full_reindex_works(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings, before = await build(tmp_path, embedder)
    damage(settings.storage.path, "DELETE FROM kw_data WHERE id = 10")
    async with AsyncMemory(settings, embedder=embedder) as mem:
        for attempt in (mem.search("pets", user_id="u"), mem.add("a parrot named Kiwi", user_id="u")):
            with pytest.raises(StorageError, match="keyword index is damaged") as refused:
                await attempt
            assert refused.value.details["repair"] == "memoryd reindex --keywords-only"
    summary = await reindex_store(settings, embedder=embedder)  # the full one: both indexes
    assert summary.memories == 6
    assert (await check_store(settings, embedder=embedder)).ok
    async with AsyncMemory(settings, embedder=embedder) as mem:
        assert await answers(mem) == before


def test_cli_check_and_reindex(tmp_path: Path, embedder: USEEmbedder, cli: Callable[..., Result]) -> None:
    settings, _ = asyncio.run(build(tmp_path, embedder))
    path = settings.storage.path
    assert cli(path, "check").exit_code == 0
    damage(path, "DELETE FROM vectors WHERE rowid = 1")
    found = cli(path, "check", "--json")
    assert found.exit_code == 1
    body = json.loads(found.stdout)
    assert not body["ok"] and body["problems"][0]["role"] == "vectors" and body["counts"]["vectors"] == 5
    human = cli(path, "check")
    assert human.exit_code == 1 and "memoryd reindex" in human.stdout and "1 problem" in human.stdout
    fixed = cli(path, "reindex")
    assert fixed.exit_code == 0, fixed.stderr
    assert "reindexed 6 memories" in fixed.stdout
    assert cli(path, "check").exit_code == 0
    damage(path, "DELETE FROM kw WHERE rowid = 1")
    told = cli(path, "check")
    assert told.exit_code == 1 and "memoryd reindex --keywords-only" in told.stdout
    fixed = cli(path, "reindex", "--keywords-only", "--json")
    assert fixed.exit_code == 0, fixed.stderr
    assert json.loads(fixed.stdout)["indexes"] == ["keywords"]
    assert cli(path, "check").exit_code == 0


async def test_a_relation_pointing_at_no_memory_is_reported(tmp_path: Path, embedder: USEEmbedder) -> None:
    from memoryd.graph import RelationDraft
    from memoryd.storage import ChangeSet

    settings, _ = await build(tmp_path, embedder)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        [said] = await mem.add("Bob works at Acme", user_id="u")
        scope = Scope("u")
        draft = RelationDraft(source="Bob", relation="works_at", target="Acme", memory_id=said.id, scope=scope)
        await mem.storage.commit(ChangeSet(graph_add=[draft]))
    assert (await check_store(settings, embedder=embedder)).ok
    damage(settings.storage.path, "UPDATE graph_relations SET memory_id = 'no-such-memory'")
    report = await check_store(settings, embedder=embedder)
    assert [p.role for p in report.problems] == ["graph"]
    assert "relations whose memory is not among the memories asserting them" in report.problems[0].message
