"""An export of a damaged store writes a file that imports into a store that checks clean.

Each damage is one `memoryd check` reports, made with sqlite3 in a copy of tests/portability's
varied store (graph, memory hierarchy, deleted memories): memory rows deleted (their history,
hierarchy turns and graph assertions stay), a graph entity deleted (its relations stay), a vector
of the wrong size. A plain export stops at damage it would have to leave out, naming
--skip-unreadable; with it, the export leaves out what names what is gone and counts it per kind;
a vector it cannot write is left out (the import embeds that memory again) and counted either way.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import Result

from memoryd import AsyncMemory, Settings, StorageError
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance.check import check_store
from memoryd.portability import export_store, import_store
from tests.fakes.llm_server import FakeLLMServer
from tests.portability.test_dangling import _docs, _target, _varied, _write

Doc = dict[str, Any]
Damage = Callable[[sqlite3.Connection, list[Doc]], dict[str, int]]  # damages the copy; what is left out


@pytest.fixture(scope="module")
def sound(
    tmp_path_factory: pytest.TempPathFactory, fake_llm_server: FakeLLMServer, embedder: USEEmbedder
) -> tuple[Settings, list[Doc]]:
    """The varied store (built once for the module) and the lines of its export."""
    tmp = tmp_path_factory.mktemp("sound")

    async def build() -> tuple[Settings, list[Doc]]:
        settings = await _varied(tmp, fake_llm_server, embedder)
        out = tmp / "all.jsonl"
        async with AsyncMemory(settings, embedder=embedder) as mem:
            await export_store(mem, out)
        return settings, _docs(out)

    return asyncio.run(build())


def _copy(settings: Settings, path: Path) -> Path:
    src, dst = sqlite3.connect(settings.storage.path), sqlite3.connect(path)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return path


def _memories_deleted(conn: sqlite3.Connection, docs: list[Doc]) -> dict[str, int]:
    """Episodes' rows deleted by hand: one alone in its segment, one in a segment with others, a
    short-term one and one asserting a relation with another memory."""
    segments = {d["id"]: d for d in docs if d["type"] == "tier_segment"}
    turns = [d for d in docs if d["type"] == "tier_turn"]
    alone = next(t for t in turns if t["segment_id"] and segments[t["segment_id"]]["turns"] == 1)
    shared = next(t for t in turns if t["segment_id"] and segments[t["segment_id"]]["turns"] > 2)
    short = next(t for t in turns if t["segment_id"] is None)
    episodes = {d["id"] for d in docs if d["type"] == "memory" and d["kind"] == "episode"}
    both = next(r for r in docs if r["type"] == "relation" and len(r["mentions"]) == 2)
    asserting = next(m["memory_id"] for m in both["mentions"] if m["memory_id"] in episodes)
    gone = {alone["memory_id"], shared["memory_id"], short["memory_id"], asserting}
    assert len(gone) == 4
    with conn:
        conn.executemany("DELETE FROM memories WHERE id = ?", [(i,) for i in gone])
    lost = Counter(t["segment_id"] for t in turns if t["memory_id"] in gone and t["segment_id"])
    relations = [r for r in docs if r["type"] == "relation"]
    return {
        "history": sum(d["type"] == "history" and d["memory_id"] in gone for d in docs),
        "tier_turn": sum(t["memory_id"] in gone for t in turns),
        "tier_segment": sum(segments[s]["turns"] == n for s, n in lost.items()),
        "relation": sum(all(m["memory_id"] in gone for m in r["mentions"]) for r in relations),
        "mention": sum(
            sum(m["memory_id"] in gone for m in r["mentions"])
            for r in relations
            if not all(m["memory_id"] in gone for m in r["mentions"])
        ),
    }


def _entity_deleted(conn: sqlite3.Connection, docs: list[Doc]) -> dict[str, int]:
    """An entity's row deleted by hand: the relations naming it stay in the graph."""
    relations = [r for r in docs if r["type"] == "relation"]
    named = Counter(e for r in relations for e in (r["source_id"], r["target_id"]))
    entity = next(d["id"] for d in docs if d["type"] == "entity" and named[d["id"]])
    with conn:
        conn.execute("DELETE FROM graph_entities WHERE id = ?", (entity,))
    return {"relation": named[entity]}


def _vector_resized(conn: sqlite3.Connection, docs: list[Doc]) -> dict[str, int]:
    with conn:
        assert conn.execute("UPDATE vectors SET vec = zeroblob(100) WHERE rowid = 5").rowcount == 1
    return {"index": 1}


DAMAGES: dict[str, tuple[Damage, bool]] = {  # how to damage; whether a plain export stops
    "memory rows deleted": (_memories_deleted, True),
    "a graph entity deleted": (_entity_deleted, True),
    "a vector of the wrong size": (_vector_resized, False),
}


@pytest.mark.parametrize("name", DAMAGES)
async def test_an_export_of_a_damaged_store_imports_into_a_store_that_checks_clean(
    name: str, sound: tuple[Settings, list[Doc]], tmp_path: Path, embedder: USEEmbedder
) -> None:
    damage, stops = DAMAGES[name]
    damaged = _target(_copy(sound[0], tmp_path / "damaged.db"))
    conn = sqlite3.connect(damaged.storage.path)
    try:
        expected = {kind: n for kind, n in damage(conn, sound[1]).items() if n}
    finally:
        conn.close()
    assert not (await check_store(damaged, embedder=embedder)).ok  # damage `memoryd check` reports
    out = tmp_path / "rest.jsonl"
    async with AsyncMemory(damaged, embedder=embedder) as mem:
        if stops:
            with pytest.raises(StorageError, match="`memoryd export --skip-unreadable` writes everything else"):
                await export_store(mem, out)
            assert not out.exists()
        else:
            plain = await export_store(mem, out)
            assert plain.left_out == expected
        summary = await export_store(mem, out, skip_unreadable=True)
    assert summary.left_out == expected and not summary.unreadable
    assert summary.to_dict()["left_out"] == expected
    target = _target(tmp_path / "new.db")
    async with AsyncMemory(target, embedder=embedder) as mem:
        done = await import_store(mem, out)
    assert done.reembedded == expected.get("index", 0)
    report = await check_store(target, embedder=embedder)
    assert report.ok, report.problems


def _b64(values: np.ndarray) -> str:
    return base64.b64encode(values.astype("<f4").tobytes()).decode("ascii")


async def test_a_file_with_vectors_of_the_wrong_size_imports_them_embedded_again(
    sound: tuple[Settings, list[Doc]], tmp_path: Path, embedder: USEEmbedder
) -> None:
    """A file written before the export left such vectors out: a memory's vector, a short-term
    turn's and a segment's centroid of the wrong size are made again, as a zero vector is."""
    docs = copy.deepcopy(sound[1])
    memory = next(d for d in docs if d["type"] == "memory" and "index" in d)
    memory["index"]["vector"] = _b64(np.zeros(25))
    turn = next(d for d in docs if d["type"] == "tier_turn" and "index" in d)
    turn["index"]["vector"] = _b64(np.ones(7) / np.sqrt(7))
    segment = next(d for d in docs if d["type"] == "tier_segment" and "index" in d)
    segment["index"]["centroid"] = _b64(np.ones(3))
    bad = _write(tmp_path / "old.jsonl", docs)
    target = _target(tmp_path / "new.db")
    async with AsyncMemory(target, embedder=embedder) as mem:
        done = await import_store(mem, bad)
    assert done.reembedded == 1 and done.counts == docs[-1]["counts"]
    report = await check_store(target, embedder=embedder)
    assert report.ok, report.problems


def test_the_cli_names_the_way_out_and_counts_what_it_left_out(
    sound: tuple[Settings, list[Doc]], tmp_path: Path, cli: Callable[..., Result]
) -> None:
    store = _copy(sound[0], tmp_path / "damaged.db")
    conn = sqlite3.connect(store)
    try:
        expected = {kind: n for kind, n in _memories_deleted(conn, sound[1]).items() if n}
        conn.execute("UPDATE vectors SET vec = zeroblob(100) WHERE rowid = 5")
        conn.commit()
    finally:
        conn.close()
    out = tmp_path / "rest.jsonl"
    stopped = cli(store, "export", str(out))
    assert stopped.exit_code == 1 and not out.exists()
    assert "--skip-unreadable" in stopped.stderr and "neither holds nor records as deleted" in stopped.stderr
    exported = cli(store, "export", str(out), "--skip-unreadable", "--json")
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(exported.stdout)["left_out"] == {**expected, "index": 1}
    human = cli(store, "export", str(tmp_path / "again.jsonl"), "--skip-unreadable")
    assert human.exit_code == 0, human.stderr
    said = " ".join(human.stdout.split())
    assert f"left out {expected['history']} history rows" in said, said
    assert "wrote 1 memory without its vector and terms" in said and "the import embeds them again" in said
    assert cli(tmp_path / "new.db", "import", str(out)).exit_code == 0
    checked = cli(tmp_path / "new.db", "check")
    assert checked.exit_code == 0, checked.stdout
