"""A refused, failed or killed ``memoryd import`` into a new store leaves nothing behind, in another
engine either: the real CLI on SQLite alone, with vectors in PostgreSQL (pgvector), Qdrant's local
mode or Milvus Lite, and with the graph in FalkorDB (each engine real, started here)."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.faults.conftest import flaky  # noqa: F401 - a fixture, shared
from tests.faults.embedders import FlakyEmbedder
from tests.portability import conftest
from tests.portability.importing import (
    ENGINES,
    FEW_CLONES,
    engine_env,
    everything,
    memories,
    memory_lines,
    midway,
    said,
    start,
    stop,
    with_clones,
)


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


def test_a_refused_or_failed_import_leaves_nothing_and_the_file_then_imports(
    tmp_path: Path, stores: Path, whole: Path, engine: str, run: Callable[..., Result],
    flaky: type[FlakyEmbedder],  # noqa: F811 - the fixture imported above
) -> None:  # fmt: skip
    truncated = tmp_path / "trunc.jsonl"
    truncated.write_text("".join(whole.read_text().splitlines(keepends=True)[:-1]))
    folder = stores / "target"
    folder.mkdir()
    env = {"MEMORYD_STORAGE__PATH": str(folder / "a.db"), **engine_env(engine, tmp_path)}

    refused = run(env, "import", str(truncated))
    assert refused.exit_code == 1 and "truncated: it has no end line" in refused.stderr
    assert everything(folder) == [] and not _outside_exists(engine, env)

    # A failure once the store and its index or graph are made (the embedder, here) removes them.
    bare = tmp_path / "bare.jsonl"  # memories without their vectors: embedded again
    rows = [json.loads(line) for line in whole.read_text().splitlines()]
    bare.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "index"}) + "\n" for r in rows))
    flaky.failing = True
    failed = run({**env, "MEMORYD_EMBEDDER__PROVIDER": "flaky"}, "import", str(bare))
    assert failed.exit_code == 1, failed.stderr
    assert everything(folder) == [] and not _outside_exists(engine, env)
    flaky.failing = False

    imported = run(env, "import", str(whole))  # the same settings: nothing is in the way
    assert imported.exit_code == 0, imported.stderr
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr


def test_a_refused_import_into_a_tenant_leaves_no_folder(
    tmp_path: Path, whole: Path, run: Callable[..., Result]
) -> None:
    truncated = tmp_path / "trunc.jsonl"
    truncated.write_text("".join(whole.read_text().splitlines(keepends=True)[:-1]))
    env = {"MEMORYD_STORAGE__PATH": str(tmp_path / "root" / "a.db")}
    (tmp_path / "root").mkdir()
    refused = run(env, "import", str(truncated), "--tenant", "Typo")
    assert refused.exit_code == 1 and "truncated" in refused.stderr
    assert everything(tmp_path / "root") == []
    imported = run(env, "import", str(whole), "--tenant", "Typo")
    assert imported.exit_code == 0, imported.stderr
    assert (tmp_path / "root" / "tenants" / "Typo.1").is_dir()


@pytest.mark.timeout(600)
def test_an_import_killed_midway_is_finished_by_what_check_and_the_refusal_name(
    tmp_path: Path, stores: Path, whole: Path, engine: str, run: Callable[..., Result]
) -> None:
    big = tmp_path / "big.jsonl"
    with_clones(whole, big, FEW_CLONES)
    db = stores / "target" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db), **engine_env(engine, tmp_path)}
    stop(start(big, env), midway(db), signal.SIGKILL)

    checked = run(env, "check")
    assert checked.exit_code == 1
    told = said(checked.stdout + checked.stderr)
    assert "did not finish" in told and "memoryd import --restart" in told
    refused = run(env, "import", str(big))  # an import into it is refused, naming the same fix
    told = said(refused.stderr)
    assert refused.exit_code == 1 and "memoryd import --restart" in told, refused.stderr
    elsewhere = {**env, "MEMORYD_STORAGE__PATH": str(stores / "other.db")}
    if engine in ("postgres", "falkordb-graph"):  # another store never takes that index over
        other = run(elsewhere, "import", str(whole))
        assert other.exit_code == 1 and "another memoryd store" in other.stderr

    restarted = run(env, "import", "--restart", str(big))
    assert restarted.exit_code == 0, restarted.stderr
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert memories(db) == FEW_CLONES + memory_lines(whole)
    again = run(env, "import", "--restart", str(big))  # a finished store is never deleted
    assert again.exit_code == 1 and "not one" in said(again.stderr)


run = conftest.run  # the fixture, which test_hand_edited.py imports from here
