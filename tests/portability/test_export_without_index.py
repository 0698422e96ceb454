"""``memoryd export --no-vectors`` needs neither index: it moves a store whose index is gone.

What "gone" means for the embedded store: the table of the vector index (or of the keyword
index) dropped while the records hold memories, or a ``memoryd reindex`` that did not finish.
An export with vectors still refuses such a store, saying how to repair it and how to export
without the index.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.portability import export_store
from tests.portability.conftest import store_settings

Cli = Callable[..., Result]

BREAKS = {
    "vector table dropped": ["DROP TABLE vectors"],
    "reindex unfinished": ["INSERT OR REPLACE INTO vector_meta VALUES ('rebuilding', '1')"],
    "keyword tables dropped": ["DROP TABLE kw", "DROP TABLE kw_docs"],
}

# An episode fast mode's rules read nothing in ("I moved to Lisbon" would add a home memory too).
VISIT = "I visited Lisbon last spring"


async def _fill(path: Path, embedder: USEEmbedder) -> int:
    async with AsyncMemory(store_settings(path), embedder=embedder) as mem:
        await mem.add([VISIT, "I drank green tea this morning"], user_id="alice")
        await mem.add("I play chess on Sundays", user_id="bob", run_id="s1")
        return int((await mem.storage.records.stats())["memories"])


def _break(path: Path, statements: list[str]) -> None:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def _memories(path: Path) -> list[dict[str, object]]:
    docs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert docs[0]["type"] == "header" and docs[-1]["type"] == "end"
    return [d for d in docs if d["type"] == "memory"]


@pytest.mark.parametrize("broken", list(BREAKS))
def test_export_without_vectors_needs_no_index_and_with_vectors_says_what_is_wrong(
    tmp_path: Path, embedder: USEEmbedder, cli: Cli, broken: str
) -> None:
    store = tmp_path / "store.db"
    total = asyncio.run(_fill(store, embedder))
    _break(store, BREAKS[broken])

    out = tmp_path / "out.jsonl"
    exported = cli(store, "export", str(out), "--no-vectors", "--json")
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(exported.stdout)["counts"]["memory"] == total
    memories = _memories(out)
    assert len(memories) == total and not any("index" in m for m in memories)
    assert {m["text"] for m in memories} >= {VISIT, "I play chess on Sundays"}

    refused = cli(store, "export", str(tmp_path / "with.jsonl"))
    assert refused.exit_code == 1 and "Traceback" not in refused.stderr
    said = " ".join(refused.stderr.split())
    assert "memoryd reindex" in said and "memoryd export --no-vectors" in said, said
    assert not (tmp_path / "with.jsonl").exists() and not (tmp_path / "with.jsonl.partial").exists()

    # the file moves the store: a new one embeds its memories again
    target = tmp_path / "target.db"
    imported = cli(target, "import", str(out))
    assert imported.exit_code == 0, imported.stderr
    found = cli(target, "search", "which city did she visit?", "-u", "alice", "--json")
    assert json.loads(found.stdout)["results"][0]["text"] == VISIT


async def test_the_library_export_without_vectors_opens_no_index(tmp_path: Path, embedder: USEEmbedder) -> None:
    store = tmp_path / "store.db"
    total = await _fill(store, embedder)
    _break(store, BREAKS["vector table dropped"])
    mem = AsyncMemory(store_settings(store), embedder=embedder)
    try:
        summary = await export_store(mem, tmp_path / "out.jsonl", vectors=False)
        assert summary.counts["memory"] == total
        # what needs the index opens it then, and says it is missing
        with pytest.raises(StorageError, match="memoryd reindex"):
            await mem.search("tea", user_id="alice")
    finally:
        await mem.close()
    assert len(_memories(tmp_path / "out.jsonl")) == total
