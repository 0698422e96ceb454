"""An import killed midway whose store's file is then deleted by hand leaves its vector index or
graph in another engine claimed by that store's id: the next import with the same settings is
refused naming ``memoryd import --restart``, which releases it (the claim the import recorded
there names its store, and that store is gone) and imports again; an index whose store still
exists is never released. Real engines (pgvector, Qdrant's local mode, Milvus Lite, FalkorDB), a
real SIGKILL."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from memoryd import load_settings
from memoryd.portability.leftovers import unfinished_import
from memoryd.storage import build_storage
from tests.portability.importing import (
    CLONES,
    engine_env,
    memories,
    memory_lines,
    midway,
    start,
    stop,
    told,
    with_clones,
)

ENGINES = ["postgres", "qdrant-local", "milvus-lite", "falkordb-graph"]


def _settings_env(engine: str, tmp: Path, db: Path) -> dict[str, str]:
    """The store at ``db``, its index or graph in ``engine``: one shared by every path (a local
    mode's folder named, not beside the store)."""
    env = {"MEMORYD_STORAGE__PATH": str(db), **engine_env(engine, tmp)}
    if engine == "qdrant-local":
        env["MEMORYD_STORAGE__QDRANT__PATH"] = str(tmp / "index.qdrant")
    if engine == "milvus-lite":
        env["MEMORYD_STORAGE__MILVUS__PATH"] = str(tmp / "index.milvus.db")
    return env


async def _recorded(env: dict[str, str]) -> dict[str, Any] | None:
    """The record of the index (graph) of these settings: the store it belongs to, and the claim
    of an unfinished import ("import"); None when it is gone."""
    storage = build_storage(load_settings(env=env))
    try:
        if env.get("MEMORYD_STORAGE__GRAPH") == "falkordb":
            return await storage.graph.client.meta()  # type: ignore[attr-defined, no-any-return]
        return await storage.vectors._meta()  # type: ignore[attr-defined, no-any-return]
    finally:
        await storage.close()


def _delete_by_hand(db: Path) -> None:
    """What a user removing the store's file does: the database, its WAL and the lock files beside
    it; another engine's local-mode folder (named in the settings) stays."""
    for suffix in ("", "-wal", "-shm", "-journal", "-memoryd.lock", "-import.lock"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("engine", ENGINES)
def test_an_index_claimed_by_a_killed_import_whose_store_was_deleted_is_released_by_restart(
    tmp_path: Path, stores: Path, whole: Path, engine: str, run: Callable[..., Result]
) -> None:
    big, db = tmp_path / "big.jsonl", stores / "tgt" / "a.db"
    with_clones(whole, big, CLONES)
    env = _settings_env(engine, stores, db)
    stop(start(big, env), midway(db), signal.SIGKILL)  # kill -9: the store is unfinished, its index claimed
    claimed = asyncio.run(_recorded(env))
    assert claimed is not None and claimed["import"] == {"source": str(big), "path": str(db)}, claimed

    # While that store exists, another store with the same index settings never takes it over:
    # refused, naming the store to restart; and --restart there releases nothing.
    elsewhere = {**env, "MEMORYD_STORAGE__PATH": str(stores / "other" / "b.db")}
    refused = run(elsewhere, "import", str(whole))
    msg = told(refused)
    assert refused.exit_code == 1 and "still exists" in msg and f"storage.path = {db}" in msg, msg
    refused = run(elsewhere, "import", "--restart", str(whole))
    msg = told(refused)
    assert refused.exit_code == 1 and "still exists" in msg and "nothing was deleted" in msg, msg
    assert asyncio.run(_recorded(env)) == claimed and unfinished_import(db) == str(big)

    _delete_by_hand(db)  # the store is gone; its index is still claimed by it
    refused = run(env, "import", str(whole))
    msg = told(refused)
    assert refused.exit_code == 1 and "memoryd import --restart FILE" in msg and "is gone" in msg, msg
    assert asyncio.run(_recorded(env)) == claimed  # a refusal releases nothing

    restarted = run(env, "import", "--restart", str(whole))
    assert restarted.exit_code == 0, told(restarted)
    checked = run(env, "check")
    assert checked.exit_code == 0, told(checked)
    assert memories(db) == memory_lines(whole) < CLONES
    mine = asyncio.run(_recorded(env))  # the new store's, its import finished: no claim left
    assert mine is not None and mine["store"] != claimed["store"] and mine.get("import") is None, mine
    again = run(env, "import", "--restart", str(whole))  # a finished store is never deleted
    assert again.exit_code == 1 and "not one" in told(again)
