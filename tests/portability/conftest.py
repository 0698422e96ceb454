"""A store with a bit of everything, built through the real API (real SQLite, real embedder, fine
mode against the scripted LLM on loopback): episodes in sessions with speakers, metadata and event
times, fast-mode rule memories, an updated and a deleted memory, a superseded fact with a closed
validity interval, graph entities with an alias and relations (one closed), for two users."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.cli import app
from memoryd.cli import output as cli_output
from memoryd.embedders.use import USEEmbedder
from memoryd.graph.models import RelationDraft
from memoryd.models import Scope
from memoryd.storage import ChangeSet
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.faults.conftest import cli, half  # noqa: F401 - fixtures, shared
from tests.fine.conftest import llm_settings


def store_settings(path: Path, **sections: Any) -> Settings:
    return load_settings(env={}, overrides={"storage": {"path": str(path)}, **sections})


def extraction(text: str, source: str, relation: str, target: str) -> dict[str, Any]:
    return {
        "facts": [{"text": text, "sources": [0]}],
        "relations": [{"source": source, "relation": relation, "target": target, "fact": 0}],
    }


async def fill(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> Settings:
    """Write the varied store; return settings for it without an LLM."""
    fine = llm_settings(tmp_path, fake_llm.base_url)
    async with AsyncMemory(fine, embedder=embedder) as mem:
        turns = [
            {"role": "user", "content": "How did it feel to seal the deal?", "name": "Tim"},
            {"role": "assistant", "content": "It felt crazy, honestly — 最高!", "name": "John"},
        ]
        await mem.add(turns, user_id="alice", run_id="s1", mode="fast", metadata={"topic": "work", "n": 2},
                      timestamp="2024-05-01T10:00:00Z")  # fmt: skip
        added = await mem.add("I love hiking in the Alps", user_id="alice", run_id="s2", mode="fast")
        await mem.update(added[0].id, metadata={"topic": "outdoors"})
        gone = await mem.add("a note to delete", user_id="alice", mode="fast")
        await mem.delete(gone[0].id)
        fake_llm.reply_json(extraction("Alice lives in Paris", "Alice", "lives in", "Paris"))
        await mem.add("I live in Paris.", user_id="alice", run_id="s3", timestamp="2024-01-10T09:00:00Z")
        fake_llm.reply_json(extraction("Alice lives in Berlin", "Alice", "lives in", "Berlin"))
        fake_llm.reply_json({"decisions": [{"fact": 0, "event": "SUPERSEDE", "target": 0}]})
        await mem.add("I moved to Berlin.", user_id="alice", run_id="s3", timestamp="2024-06-01T09:00:00Z")
        fake_llm.reply_json(extraction("Bob works at Acme", "Bob", "works at", "Acme"))
        out = await mem.add("I'm Bob, I work at Acme.", user_id="bob", agent_id="helper", run_id="b1")
        bob = Scope("bob", "helper", "b1")
        alias = RelationDraft(source="Robert", relation="drives", target="a red car", memory_id=out[0].id,
                              scope=bob, aliases={"Robert": ["Bob"]})  # fmt: skip
        await mem.storage.commit(ChangeSet(graph_add=[alias]))
        await mem.add(["I prefer tea", "我住在杭州"], user_id="bob", mode="fast")
    return store_settings(Path(fine.storage.path))


async def filled_export(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> tuple[Settings, Path]:
    """A store made by :func:`fill` and its whole export (``all.jsonl``)."""
    from memoryd.portability import export_store

    source = await fill(tmp_path, fake_llm, embedder)
    out = tmp_path / "all.jsonl"
    async with AsyncMemory(source, embedder=embedder) as mem:
        await export_store(mem, out)
    return source, out


def lines(path: Path) -> list[str]:
    """The export's lines without its header (whose export time differs from run to run)."""
    text = path.read_text(encoding="utf-8").splitlines()
    assert text[0].startswith('{"type":"header"')
    return text[1:]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, embedder: USEEmbedder) -> Iterator[Callable[..., Result]]:
    """``run(env, *args)``: the memoryd CLI in process with only ``env`` as MEMORYD_* settings."""
    for name in list(os.environ):
        if name.startswith("MEMORYD_"):
            monkeypatch.delenv(name)
    monkeypatch.setitem(cli_output._EMBEDDERS, ("use", 2, 64), embedder)

    def invoke(env: dict[str, str], *args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=env)

    yield invoke


@pytest.fixture(scope="session")
def filled_once(tmp_path_factory: pytest.TempPathFactory, fake_llm_server: FakeLLMServer,
                embedder: USEEmbedder) -> Path:  # fmt: skip
    """The export of :func:`filled_export`, made once for the tests that only read it."""
    folder = tmp_path_factory.mktemp("filled")
    return asyncio.run(filled_export(folder, fake_llm_server.new_script(), embedder))[1]


@pytest.fixture
def whole(filled_once: Path, tmp_path: Path) -> Path:
    """This test's copy of the export of :func:`filled_export` (``all.jsonl``)."""
    return Path(shutil.copyfile(filled_once, tmp_path / "all.jsonl"))


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Path]:
    """A folder for the test's stores, in memory (/dev/shm) where there is one: an import at
    ``--batch-size 1`` commits (and syncs) every row, which a disk makes the slowest part."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="memoryd-test-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
