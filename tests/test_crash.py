"""kill -9 during ingestion: the store stays intact and every acknowledged write survives.

Each cycle starts a writer over the same SQLite file, lets it acknowledge writes, and
kills it with SIGKILL at a random point of a write; then ``memoryd check`` (the real
CLI, run in this test's process: the killed writer was another) must find the store sound, and every write acknowledged so far
must be in it. Writers alternate between the library (``tests/crash_child.py``, one
process adding batches in a loop) and the REST server (``memoryd serve`` on loopback,
four HTTP clients adding concurrently: a write is acknowledged by its 200 response).
The figures (kills survived, acknowledged writes checked) are printed at the end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from memoryd import Memory, load_settings
from memoryd.cli import app
from tests.serving import start_serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parent.parent
CYCLES = 10  # library and server alternately
CLIENTS = 4


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    return {**env, "PYTHONPATH": str(ROOT), "MEMORYD_STORAGE__PATH": str(db)}


def _library_cycle(db: Path, start: int, acks_wanted: int, rng: random.Random) -> list[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_child", str(db), str(start)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(db),
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


def _server_cycle(db: Path, start: int, acks_wanted: int, rng: random.Random) -> list[str]:
    server, url = start_serve(_env(db))
    deadline = time.monotonic() + 60  # for the clients' acknowledgements
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            i = start + n * 10_000
            while not stop.is_set():
                texts = [f"crash test message {i + k} about topic {(i + k) % 17}" for k in range(2)]
                body = {"messages": [{"role": "user", "content": t} for t in texts], "user_id": "crash",
                        "run_id": f"h{n}-{i // 20}"}  # fmt: skip
                try:
                    r = http.post("/v1/memories", json=body)
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if r.status_code == 200:
                    with lock:
                        acked.extend(x["id"] for x in r.json()["results"] if x["event"] == "ADD")
                i += 2

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    target = acks_wanted + rng.randint(0, 20)
    while len(acked) < target and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.random() * 0.05)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    with lock:
        return list(acked)


def _check(db: Path) -> dict[str, object]:
    """``memoryd check --json``, as an operator would run it after a crash: the CLI in this process
    (a new one for each check cost 2 s of imports), its environment the writers' own."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("MEMORYD_")}
    done = CliRunner().invoke(app, ["check", "--json"], env={**unset, "MEMORYD_STORAGE__PATH": str(db)})
    report: dict[str, object] = json.loads(done.stdout)
    assert done.exit_code == 0 and report["ok"], report
    return report


def _stored(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM memories")}
    finally:
        conn.close()


def test_sigkill_during_ingestion_loses_no_acknowledged_write(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "crash.db"
    rng = random.Random(1234)
    acked: list[str] = []
    kills = 0
    for cycle in range(CYCLES):
        writer = _library_cycle if cycle % 2 == 0 else _server_cycle
        acked += writer(db, cycle * 100_000, 30, rng)
        kills += 1
        report = _check(db)  # sound after every kill, before the next writer starts
        missing = set(acked) - _stored(db)
        assert not missing, f"{len(missing)} acknowledged writes lost after kill {kills}"
        assert report["counts"]["memories"] >= len(set(acked))  # type: ignore[index]
    assert len(set(acked)) == len(acked) >= 30 * CYCLES

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.execute("INSERT INTO kw(kw) VALUES ('integrity-check')")  # raises if FTS is corrupt
    stored = {r[0] for r in conn.execute("SELECT id FROM memories")}
    vectors = {r[0] for r in conn.execute("SELECT memory_id FROM vectors")}
    keywords = {r[0] for r in conn.execute("SELECT memory_id FROM kw_docs")}
    conn.close()
    assert stored == vectors == keywords  # every role committed together

    settings = load_settings(env={}, overrides={"storage": {"path": str(db)}})
    with Memory(settings, embedder=embedder) as mem:
        hits = mem.search("crash test message about topic 5", user_id="crash", limit=5)
        assert hits and all(h.memory.user_id == "crash" for h in hits)
        assert mem.add("after the crash", user_id="crash")[0].event.value == "ADD"
    print(
        f"\ncrash test: {kills} SIGKILLs survived ({CYCLES // 2} library, {CYCLES - CYCLES // 2} server), "
        f"{len(acked)} acknowledged writes checked present, `memoryd check` clean after every kill"
    )
