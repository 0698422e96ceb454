"""What the tests of a stopped ``memoryd import`` share: an export grown big enough to be caught
midway, the real ``memoryd import`` started in a process of its own (so that a real SIGINT,
SIGTERM or SIGKILL stops it), waiting until it has written rows, stopping it, and reading what
the store holds. The steps nobody signals run in the test's own process (the ``run`` fixture)."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import Result

from memoryd.portability.leftovers import unfinished_import

ROOT = Path(__file__).resolve().parents[2]
# Rows the child writes one by one (``--batch-size 1``): enough that it is still writing them when
# the test, which saw 20 of them, signals it.
CLONES = 3000
# As many, for the tests that then import the whole file again (its rows one by one when the fix
# they run repeats --batch-size 1), or wait for the child to finish: the signal comes 5-20 rows
# after the 20 the test saw, so 500 still leave it hundreds of rows to write, at a sixth of the cost.
FEW_CLONES = 500
ENGINES = ["sqlite", "postgres", "qdrant-local", "milvus-lite", "falkordb-graph"]
Child = subprocess.Popen[bytes]


def engine_env(engine: str, tmp: Path) -> dict[str, str]:
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


def with_clones(whole: Path, out: Path, clones: int) -> None:
    """``whole`` with ``clones`` more memories (copies of its first: new ids, user "clone"), last."""
    rows = [json.loads(line) for line in whole.read_text().splitlines()]
    first = next(r for r in rows if r["type"] == "memory")
    extra = [{**first, "id": str(uuid.uuid4()), "user_id": "clone", "run_id": None} for _ in range(clones)]
    end = rows[-1]
    end["counts"]["memory"] += clones
    out.write_text("".join(json.dumps(r) + "\n" for r in [*rows[:-1], *extra, end]))


def with_history(whole: Path, out: Path, clones: int, user: str = "clone", **fields: object) -> list[str]:
    """``whole`` with ``clones`` more memories, each with its ``ADD`` history row: as an export
    writes them, every memory line before every history line. Returns the clones' ids."""
    rows = [json.loads(line) for line in whole.read_text().splitlines()]
    first = next(r for r in rows if r["type"] == "memory")
    ids = [str(uuid.uuid4()) for _ in range(clones)]
    extra = [{**first, "id": i, "user_id": user, "run_id": None, **fields} for i in ids]
    added = next(r for r in rows if r["type"] == "history" and r["event"] == "ADD")
    said = [{**added, "memory_id": i, "user_id": user, "agent_id": None, "run_id": None} for i in ids]
    last = max(n for n, r in enumerate(rows) if r["type"] == "memory")
    rows[last + 1 : last + 1] = extra
    last = max(n for n, r in enumerate(rows) if r["type"] == "history")
    rows[last + 1 : last + 1] = said
    rows[-1]["counts"]["memory"] += clones
    rows[-1]["counts"]["history"] += clones
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ids


def memoryd(command: str) -> list[str]:
    """The arguments of a printed ``memoryd ...`` command."""
    words = shlex.split(command)
    assert words[0] == "memoryd", command
    return words[1:]


def spawn(args: list[str], env: dict[str, str]) -> Child:
    """``memoryd ARGS`` as a user runs it: a process of its own, with only ``env`` as MEMORYD_*."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    return subprocess.Popen(
        [sys.executable, "-m", "memoryd", *args], cwd=ROOT, env={**base, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def start(source: Path, env: dict[str, str], *more: str) -> Child:
    """``memoryd import SOURCE --batch-size 1`` (a commit a row, so it is caught midway)."""
    return spawn(["import", str(source), "--batch-size", "1", *more], env)


def wait_until(child: Child, ready: Callable[[], bool]) -> None:
    """Until ``ready()``; the child must still run meanwhile (else its stderr is the failure)."""
    deadline = time.monotonic() + 300
    while not ready():
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline, "the import never got going"
        time.sleep(0.01)


@contextmanager
def paused(child: Child) -> Iterator[None]:
    """``child`` stopped where it is (a real SIGSTOP: it still runs, holding what it holds, however
    long the test takes meanwhile), then let go on (SIGCONT). A step that waited for it instead
    would hang: the child is let go after a minute anyway, so that such a step sees it end (and
    the test fails on what it then says) rather than wait for the test's timeout."""
    child.send_signal(signal.SIGSTOP)
    watchdog = threading.Timer(60, child.send_signal, (signal.SIGCONT,))
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()
        child.send_signal(signal.SIGCONT)


def finish(child: Child) -> tuple[int, str, str]:
    """Its exit code, stdout and stderr, once it ends."""
    out, err = child.communicate(timeout=600)
    return child.returncode, out.decode(), err.decode()


def stop(child: Child, ready: Callable[[], bool], signum: int) -> tuple[int, str, str]:
    """Once ``ready()``, a real ``signum``; what :func:`finish` gives."""
    wait_until(child, ready)
    child.send_signal(signum)
    return finish(child)


def midway(db: Path) -> Callable[[], bool]:
    """An import into a new store at ``db`` has marked it unfinished and written 20 memories."""
    return lambda: bool(unfinished_import(db)) and memories(db) > 20


def select(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def count(db: Path, sql: str) -> int:
    """``SELECT count(*) ...`` in the store; 0 while its file or table is not made yet."""
    try:
        return int(select(db, sql)[0][0])  # type: ignore[call-overload]
    except sqlite3.Error:
        return 0


def memories(db: Path) -> int:
    return count(db, "SELECT count(*) FROM memories")


def memory_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if '"type":"memory"' in line)


def everything(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (none when it is not there)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def said(text: str) -> str:
    """``text`` with its line breaks and runs of spaces as single spaces (as a terminal wraps it)."""
    return " ".join(text.split())


def told(result: Result) -> str:
    """What a CLI run printed, stdout and stderr, as :func:`said` gives it."""
    return said(result.stdout + result.stderr)
