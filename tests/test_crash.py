"""kill -9 during ingestion: the store stays intact and every acknowledged write survives."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memoryd import Memory, load_settings

pytestmark = pytest.mark.slow


def _ingest_then_kill(db: Path, start: int, acks_wanted: int, rng: random.Random) -> list[str]:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_child", str(db), str(start)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env=env,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    acked: list[str] = []
    deadline = time.monotonic() + 60
    target = acks_wanted + rng.randint(0, 20)
    while len(acked) < target and time.monotonic() < deadline:
        line = child.stdout.readline().strip()
        if line:
            acked.append(line)
    time.sleep(rng.random() * 0.05)  # land the kill at a random point of a write
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    # Anything already printed was acknowledged before the kill.
    acked.extend(line.strip() for line in child.stdout.read().splitlines() if line.strip())
    child.stdout.close()
    return acked


def test_sigkill_during_ingestion_loses_no_acknowledged_write(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "crash.db"
    rng = random.Random(1234)
    acked: list[str] = []
    for cycle in range(3):
        acked += _ingest_then_kill(db, cycle * 100_000, 30, rng)
    assert len(acked) >= 90

    conn = sqlite3.connect(db)
    conn.execute("PRAGMA query_only=OFF")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.execute("INSERT INTO kw(kw) VALUES ('integrity-check')")  # raises if FTS is corrupt
    stored = {r[0] for r in conn.execute("SELECT id FROM memories")}
    vectors = {r[0] for r in conn.execute("SELECT memory_id FROM vectors")}
    keywords = {r[0] for r in conn.execute("SELECT memory_id FROM kw_docs")}
    conn.close()
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged writes lost"
    assert stored == vectors == keywords  # every role committed together

    settings = load_settings(env={}, overrides={"storage": {"path": str(db)}})
    with Memory(settings, embedder=embedder) as mem:
        hits = mem.search("crash test message about topic 5", user_id="crash", limit=5)
        assert hits and all(h.memory.user_id == "crash" for h in hits)
        assert mem.add("after the crash", user_id="crash")[0].event.value == "ADD"
