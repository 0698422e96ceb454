"""Ctrl-C during ``memoryd reindex``, sent to the real console script: the report says what state the
store is left in (what was done, whether searches work) and the exact command that finishes it,
and the store agrees.

It said only "interrupted" (exit 130), though a full reindex stopped part way leaves a store that
refuses to open (search, list, add, the server) until a reindex runs to its end."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memoryd.config import load_settings
from tests.cli.conftest import Run, as_json

pytestmark = pytest.mark.slow

# Enough memories that a reindex is still under way when Ctrl-C comes (its vectors take a
# second or more), not more: each is embedded twice, added and reindexed to the end.
MEMORIES = 1500
SCRIPT = shutil.which("memoryd", path=str(Path(sys.executable).parent)) or shutil.which("memoryd")


def _store(run: Run, tmp_path: Path, count: int, *root: str) -> None:
    """A store of ``count`` memories (the root options ``root``: a tenant's)."""
    path = tmp_path / "notes.jsonl"
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps({"role": "user", "content": f"note {i} on the garden, bed {i % 37}"}) + "\n")
    added = run(*root, "add", "-f", str(path), "-u", "bulk", "--json")
    assert added.exit_code == 0, added.stderr


def _query(db: Path, sql: str) -> Any:
    """One value as another process sees the store now; None while it cannot be read (a table
    dropped and not made again yet)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute(sql).fetchone()
            return row[0] if row else None
    except sqlite3.Error:
        return None


def _interrupted(
    args: list[str], env: dict[str, str], ready: Callable[[], bool]
) -> tuple[int, dict[str, Any], str]:
    """``memoryd ARGS --json`` in a subprocess, SIGINT once ``ready()``; its status, document, stderr."""
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    with open(os.devnull, "rb") as nothing:
        proc = subprocess.Popen(
            [SCRIPT, *args, "--json"], env=env, text=True, stdin=nothing,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not ready():
                assert proc.poll() is None, f"it ended first: {proc.communicate()}"
                assert time.monotonic() < deadline, "the reindex never got under way"
                time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:  # a failed test leaves nothing running (this process only)
                proc.kill()
                proc.communicate()
    assert "Traceback" not in out + err, err
    return proc.returncode, json.loads(out), " ".join(err.split())


@pytest.fixture
def env(clean_env: dict[str, str]) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    return {**clean, **clean_env, "HF_HUB_OFFLINE": "1"}


def test_ctrl_c_in_a_reindex_says_the_store_refuses_to_open_and_how_to_finish(
    run: Run, env: dict[str, str], db_path: Path, tmp_path: Path
) -> None:
    _store(run, tmp_path, MEMORIES)
    # once the old vector index is gone and two batches are in the new one (the first one counted)
    rebuilding = (
        "SELECT count(*) FROM vectors WHERE EXISTS (SELECT 1 FROM vector_meta WHERE key = 'rebuilding')"
    )
    code, doc, said = _interrupted(
        ["reindex", "--batch-size", "64"], env, lambda: (_query(db_path, rebuilding) or 0) >= 128
    )

    assert code == 130, said
    indexed = doc["indexed"]
    assert doc["interrupted"] is True and doc["stage"] == "rebuilding" and doc["searches"] == "refused", doc
    assert 0 < indexed < MEMORIES and doc["total"] == MEMORIES and doc["path"] == str(db_path)
    assert doc["finish"] == "memoryd reindex --batch-size 64"
    assert (
        f"interrupted: the reindex of {db_path} stopped: both indexes were discarded and at least {indexed} "
        f"of {MEMORIES} memories are indexed again: the vector index is incomplete, so the store refuses to open "
        "until a reindex finishes (search, list, add, the server and `memoryd mcp` fail on it); records, "
        "history and graph are untouched. To finish, run the reindex again (it starts over): "
        "memoryd reindex --batch-size 64"
    ) in said
    assert indexed <= _query(db_path, "SELECT count(*) FROM vectors")  # no more claimed than is there

    refused = run("search", "garden", "-u", "bulk")  # what the report says: the store does not open
    assert refused.exit_code == 1 and "incomplete" in refused.stderr and "memoryd reindex" in refused.stderr
    assert _query(db_path, "SELECT count(*) FROM memories") == MEMORIES  # the records are all there

    finish = shlex.split(doc["finish"])  # the command it named finishes it
    assert run(*finish[1:]).exit_code == 0
    hits = as_json(run("search", "note 17 on the garden", "-u", "bulk", "--json"))["results"]
    assert hits and hits[0]["memory"] == "note 17 on the garden, bed 17"
    assert run("check").exit_code == 0


def test_ctrl_c_in_a_keyword_reindex_of_a_tenant_says_searches_still_work(
    run: Run, env: dict[str, str], clean_env: dict[str, str], tmp_path: Path
) -> None:
    _store(run, tmp_path, MEMORIES, "-t", "acme")
    db = load_settings(env=clean_env).for_tenant("acme").storage.path
    seen: list[int] = []

    def rebuilding() -> bool:  # the keyword index discarded, and some memories in it again
        docs = _query(db, "SELECT count(*) FROM kw_docs")
        if docs is not None:
            seen.append(docs)
        return any(n < MEMORIES for n in seen) and docs is not None and 10 <= docs < MEMORIES

    args = ["-t", "acme", "reindex", "--keywords-only", "--batch-size", "2"]
    code, doc, said = _interrupted(args, env, rebuilding)

    assert code == 130, said
    assert doc["stage"] == "rebuilding" and doc["indexes"] == ["keywords"], doc
    assert doc["searches"] == "keywords partial" and 0 < doc["indexed"] < MEMORIES
    assert doc["finish"] == "memoryd reindex --tenant acme --keywords-only --batch-size 2"
    assert "searches work as before, except that they find the others by meaning only" in said
    assert said.endswith("To finish, run the reindex again (it starts over): " + doc["finish"]), said

    found = run("-t", "acme", "search", "note 17 on the garden", "-u", "bulk", "--json")
    assert found.exit_code == 0 and as_json(found)["results"]  # searches work meanwhile, as it said
    assert run("-t", "acme", "check").exit_code == 1  # the memories missing from the keyword index
    assert run(*shlex.split(doc["finish"])[1:]).exit_code == 0
    assert run("-t", "acme", "check").exit_code == 0
