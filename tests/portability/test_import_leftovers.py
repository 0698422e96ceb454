"""A refused, failed or killed ``memoryd import`` into a new store leaves nothing behind, in another
engine either: the real CLI on SQLite alone, with vectors in PostgreSQL (pgvector), Qdrant's local
mode or Milvus Lite, and with the graph in FalkorDB (each engine real, started here)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from memoryd.cli import app
from memoryd.cli import output as cli_output
from memoryd.embedders.use import USEEmbedder
from memoryd.portability.leftovers import unfinished_import
from tests.fakes.llm_server import Script
from tests.faults.conftest import flaky  # noqa: F401 - a fixture, shared
from tests.faults.embedders import FlakyEmbedder
from tests.portability.conftest import filled_export

ROOT = Path(__file__).resolve().parents[2]
ENGINES = ["sqlite", "postgres", "qdrant-local", "milvus-lite", "falkordb-graph"]


def _engine_env(engine: str, tmp: Path) -> dict[str, str]:
    """The settings (environment) of a store whose vectors or graph ``engine`` holds."""
    if engine == "postgres":
        from tests.storage.postgres_server import postgres_url, table_for

        return {"MEMORYD_STORAGE__VECTORS": "postgres", "MEMORYD_STORAGE__POSTGRES__URL": postgres_url(),
                "MEMORYD_STORAGE__POSTGRES__TABLE": table_for(tmp)}  # fmt: skip
    if engine == "qdrant-local":  # its folder beside the store (a.db.qdrant)
        return {"MEMORYD_STORAGE__VECTORS": "qdrant"}
    if engine == "milvus-lite":  # its file beside the store (a.db.milvus.db)
        return {"MEMORYD_STORAGE__VECTORS": "milvus"}
    if engine == "falkordb-graph":
        if importlib.util.find_spec("falkordb") is None:
            pytest.skip("the falkordb client is not installed (pip install 'memoryd[falkordb]')")
        from tests.storage.falkordb_server import falkordb_url, graph_for

        return {"MEMORYD_STORAGE__GRAPH": "falkordb", "MEMORYD_STORAGE__FALKORDB__URL": falkordb_url(),
                "MEMORYD_STORAGE__FALKORDB__GRAPH": graph_for(tmp)}  # fmt: skip
    return {}


def _outside_exists(engine: str, env: dict[str, str]) -> bool:
    """Whether the table (graph) of a server engine exists; local modes live in the store's folder."""
    if engine == "postgres":
        import psycopg

        with psycopg.connect(env["MEMORYD_STORAGE__POSTGRES__URL"], autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass(quote_ident(%s))", (env["MEMORYD_STORAGE__POSTGRES__TABLE"],))
            return bool(row.fetchone()[0])  # type: ignore[index]
    if engine == "falkordb-graph":
        import redis

        client = redis.Redis.from_url(env["MEMORYD_STORAGE__FALKORDB__URL"], decode_responses=True)
        try:
            return bool(client.type(env["MEMORYD_STORAGE__FALKORDB__GRAPH"]) != "none")
        finally:
            client.close()
    return False


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


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


def _everything(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_a_refused_or_failed_import_leaves_nothing_and_the_file_then_imports(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, engine: str, run: Callable[..., Result],
    flaky: type[FlakyEmbedder],  # noqa: F811 - the fixture imported above
) -> None:  # fmt: skip
    _, whole = asyncio.run(filled_export(tmp_path, fake_llm, embedder))
    truncated = tmp_path / "trunc.jsonl"
    truncated.write_text("".join(whole.read_text().splitlines(keepends=True)[:-1]))
    folder = tmp_path / "target"
    folder.mkdir()
    env = {"MEMORYD_STORAGE__PATH": str(folder / "a.db"), **_engine_env(engine, tmp_path)}

    refused = run(env, "import", str(truncated))
    assert refused.exit_code == 1 and "truncated: it has no end line" in refused.stderr
    assert _everything(folder) == [] and not _outside_exists(engine, env)

    # A failure once the store and its index or graph are made (the embedder, here) removes them.
    bare = tmp_path / "bare.jsonl"  # memories without their vectors: embedded again
    rows = [json.loads(line) for line in whole.read_text().splitlines()]
    bare.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "index"}) + "\n" for r in rows))
    flaky.failing = True
    failed = run({**env, "MEMORYD_EMBEDDER__PROVIDER": "flaky"}, "import", str(bare))
    assert failed.exit_code == 1, failed.stderr
    assert _everything(folder) == [] and not _outside_exists(engine, env)
    flaky.failing = False

    imported = run(env, "import", str(whole))  # the same settings: nothing is in the way
    assert imported.exit_code == 0, imported.stderr
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr


def test_a_refused_import_into_a_tenant_leaves_no_folder(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, run: Callable[..., Result]
) -> None:
    _, whole = asyncio.run(filled_export(tmp_path, fake_llm, embedder))
    truncated = tmp_path / "trunc.jsonl"
    truncated.write_text("".join(whole.read_text().splitlines(keepends=True)[:-1]))
    env = {"MEMORYD_STORAGE__PATH": str(tmp_path / "root" / "a.db")}
    (tmp_path / "root").mkdir()
    refused = run(env, "import", str(truncated), "--tenant", "Typo")
    assert refused.exit_code == 1 and "truncated" in refused.stderr
    assert _everything(tmp_path / "root") == []
    imported = run(env, "import", str(whole), "--tenant", "Typo")
    assert imported.exit_code == 0, imported.stderr
    assert (tmp_path / "root" / "tenants" / "Typo.1").is_dir()


def _big(whole: Path, out: Path, clones: int) -> None:
    """``whole`` with ``clones`` more memories (copies of its first: new ids, another user)."""
    rows = [json.loads(line) for line in whole.read_text().splitlines()]
    first = next(r for r in rows if r["type"] == "memory")
    extra = [{**first, "id": str(uuid.uuid4()), "user_id": "clone", "run_id": None} for _ in range(clones)]
    end = rows[-1]
    end["counts"]["memory"] += clones
    out.write_text("".join(json.dumps(r) + "\n" for r in [*rows[:-1], *extra, end]))


def _memories(db: Path) -> int:
    try:
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM memories").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.timeout(600)
def test_an_import_killed_midway_is_finished_by_what_check_and_the_refusal_name(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, engine: str, run: Callable[..., Result]
) -> None:
    _, whole = asyncio.run(filled_export(tmp_path, fake_llm, embedder))
    big = tmp_path / "big.jsonl"
    _big(whole, big, 3000)
    db = tmp_path / "target" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db), **_engine_env(engine, tmp_path)}
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    child = subprocess.Popen(
        [sys.executable, "-m", "memoryd", "import", str(big), "--batch-size", "1"],
        cwd=ROOT, env={**base, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not (unfinished_import(db) and _memories(db) > 20):
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline, "the import never got going"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    if child.stderr is not None:
        child.stderr.close()

    checked = run(env, "check")
    assert checked.exit_code == 1
    said = " ".join((checked.stdout + checked.stderr).split())
    assert "did not finish" in said and "memoryd import --restart" in said
    refused = run(env, "import", str(big))  # an import into it is refused, naming the same fix
    said = " ".join(refused.stderr.split())
    assert refused.exit_code == 1 and "memoryd import --restart" in said, refused.stderr
    elsewhere = {**env, "MEMORYD_STORAGE__PATH": str(tmp_path / "other.db")}
    if engine in ("postgres", "falkordb-graph"):  # another store never takes that index over
        other = run(elsewhere, "import", str(whole))
        assert other.exit_code == 1 and "another memoryd store" in other.stderr

    restarted = run(env, "import", "--restart", str(big))
    assert restarted.exit_code == 0, restarted.stderr
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert _memories(db) == 3000 + sum(1 for line in whole.read_text().splitlines() if '"type":"memory"' in line)
    again = run(env, "import", "--restart", str(big))  # a finished store is never deleted
    assert again.exit_code == 1 and "not one" in " ".join(again.stderr.split())
