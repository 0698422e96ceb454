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
from memoryd.embedders.use import USEEmbedder
from memoryd.portability.leftovers import unfinished_import
from memoryd.storage import build_storage
from tests.fakes.llm_server import Script
from tests.portability.test_import_leftovers import _engine_env, _memories, run  # noqa: F401
from tests.portability.test_import_lock import (
    CLONES,
    _big_export,
    _finish,
    _memory_lines,
    _said,
    _start,
    _wait_until,
)

ENGINES = ["postgres", "qdrant-local", "milvus-lite", "falkordb-graph"]


def _settings_env(engine: str, tmp: Path, db: Path) -> dict[str, str]:
    """The store at ``db``, its index or graph in ``engine``: one shared by every path (a local
    mode's folder named, not beside the store)."""
    env = {"MEMORYD_STORAGE__PATH": str(db), **_engine_env(engine, tmp)}
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
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, engine: str, run: Callable[..., Result]  # noqa: F811
) -> None:
    whole, big, db, _ = _big_export(tmp_path, fake_llm, embedder)
    env = _settings_env(engine, tmp_path, db)
    child = _start(big, env)  # kill -9 midway: the store is unfinished, its index claimed
    _wait_until(child, lambda: bool(unfinished_import(db)) and _memories(db) > 20)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    _finish(child)
    claimed = asyncio.run(_recorded(env))
    assert claimed is not None and claimed["import"] == {"source": str(big), "path": str(db)}, claimed

    # While that store exists, another store with the same index settings never takes it over:
    # refused, naming the store to restart; and --restart there releases nothing.
    elsewhere = {**env, "MEMORYD_STORAGE__PATH": str(tmp_path / "other" / "b.db")}
    refused = run(elsewhere, "import", str(whole))
    said = _said(refused)
    assert refused.exit_code == 1 and "still exists" in said and f"storage.path = {db}" in said, said
    refused = run(elsewhere, "import", "--restart", str(whole))
    said = _said(refused)
    assert refused.exit_code == 1 and "still exists" in said and "nothing was deleted" in said, said
    assert asyncio.run(_recorded(env)) == claimed and unfinished_import(db) == str(big)

    _delete_by_hand(db)  # the store is gone; its index is still claimed by it
    refused = run(env, "import", str(whole))
    said = _said(refused)
    assert refused.exit_code == 1 and "memoryd import --restart FILE" in said and "is gone" in said, said
    assert asyncio.run(_recorded(env)) == claimed  # a refusal releases nothing

    restarted = run(env, "import", "--restart", str(whole))
    assert restarted.exit_code == 0, _said(restarted)
    checked = run(env, "check")
    assert checked.exit_code == 0, _said(checked)
    assert _memories(db) == _memory_lines(whole) < CLONES
    mine = asyncio.run(_recorded(env))  # the new store's, its import finished: no claim left
    assert mine is not None and mine["store"] != claimed["store"] and mine.get("import") is None, mine
    again = run(env, "import", "--restart", str(whole))  # a finished store is never deleted
    assert again.exit_code == 1 and "not one" in _said(again)
