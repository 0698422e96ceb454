"""A store that answers reads but refuses writes for the machine's reason (its disk full) is an
outage: the events a worker holds wait and use up no attempt, and ``/health`` says why.

Before, a refused write used up an attempt (only a store that also failed the read after it was an
outage): with ``max_attempts=1`` every event was dead-lettered while the disk was full. The disk is
a real one here: a small tmpfs holding the store, filled up by a file, then freed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import StorageError
from memoryd.pipeline import EventStatus, Pipeline
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.pipeline.policy import refuses_writes
from memoryd.storage.sqlite.database import translate_errors
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer, stored, turn, wait_until, worker_over


@contextlib.contextmanager
def small_disk(where: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (root only: skips where mounting is not allowed)."""
    where.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       check=True, capture_output=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"a small disk needs `mount -t tmpfs` (root): {exc}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Fill ``disk`` up with a file (returned: deleting it frees the disk)."""
    filler = disk / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


async def test_a_full_disk_under_the_store_uses_up_no_attempt_and_shows_in_health(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        # One attempt each: a refused write that cost one would dead-letter every event.
        settings = pipeline_settings(disk / "m.db", redis_server.url, prefix, max_attempts=1)
        async with AsyncMemory(settings, embedder=embedder):
            pass  # the store, created
        async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, embedder) as worker:
            for n in range(3):
                await pipeline.submit_add(memory, turn("ana", n), event_id=f"full-{n}")
            filler = fill(disk)
            with pytest.raises(StorageError, match="disk is full"):  # the disk refuses writes for real
                await memory.add("a note", user_id="bob")
            assert (await memory.get_all(user_id="ana")).total == 0  # while the store still answers reads

            running = asyncio.create_task(worker.run())
            try:

                async def waiting() -> bool:
                    records = [await pipeline.event(f"full-{n}") for n in range(3)]
                    return all(r is not None and r.error and r.error.get("outages", 0) >= 2
                               for r in records)  # fmt: skip

                await wait_until(waiting, what="the events to wait on the store")
                await wait_until(lambda: _healthy(pipeline, False), what="health to name the store")  # a heartbeat
                health = await pipeline.health()
                assert health["status"] == "degraded", health
                assert "the store does not take its adds" in health["error"], health
                assert "disk is full" in health["error"], health
                for n in range(3):
                    record = await pipeline.event(f"full-{n}")
                    assert record is not None and record.status is not EventStatus.DEAD_LETTERED, record
                    assert record.attempts == 1, record

                os.remove(filler)  # the disk has room again

                async def done() -> bool:
                    records = [await pipeline.event(f"full-{n}") for n in range(3)]
                    return all(r is not None and r.status is EventStatus.DONE for r in records)

                await wait_until(done, what="the events to be stored once the disk had room")
                await wait_until(
                    lambda: _healthy(pipeline, True), what="the worker's heartbeat to stop naming the store"
                )
            finally:
                worker.stop()
                report = await asyncio.wait_for(running, timeout=30)
            assert report.dead_lettered == 0 and report.processed == 3
            for n in range(3):
                record = await pipeline.event(f"full-{n}")
                assert record is not None and (record.status, record.attempts) == (EventStatus.DONE, 1)
            assert (await pipeline.queue.stats()).dlq_size == 0
        assert sum(1 for user, _ in stored(settings.storage.path) if user == "ana") >= 3


async def _healthy(pipeline: Pipeline, store: bool) -> bool:
    """Whether ``/health`` says of the store what ``store`` says (it takes the worker's adds)."""
    health = await pipeline.health()
    return ("the store does not take" not in health.get("error", "")) == store


def test_the_stores_translation_says_which_failures_refuse_writes(tmp_path: Path) -> None:
    """SQLite's read-only file (here a connection that may not write), full disk and I/O errors
    refuse writes for the machine's reason; an error of what was written (a constraint) does not."""
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("PRAGMA query_only = ON")
    with pytest.raises(sqlite3.Error) as readonly:
        conn.execute("INSERT INTO t VALUES (2)")
    conn.execute("PRAGMA query_only = OFF")
    with pytest.raises(sqlite3.Error) as constraint:
        conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
    assert refuses_writes(translate_errors(readonly.value))
    assert not refuses_writes(translate_errors(constraint.value))


async def test_a_workers_word_on_the_store_lapses_once_none_of_its_events_waits_on_it(
    tmp_path: Path, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    # A worker whose waiting events another worker stored (or a deletion erased) went on saying the
    # store refused its adds, so /health stayed degraded long after the disk had room again.
    with small_disk(tmp_path / "disk") as disk:
        settings = pipeline_settings(disk / "m.db", redis_server.url, prefix)  # retries ≤ 100 ms apart
        async with AsyncMemory(settings, embedder=embedder):
            pass
        async with producer(settings, embedder) as (pipeline, memory), worker_over(settings, embedder) as worker:
            await pipeline.submit_add(memory, turn("ana", 0), event_id="full-0")
            filler = fill(disk)
            running = asyncio.create_task(worker.run())
            try:
                await wait_until(lambda: _said(worker), what="the worker to name the store")
            finally:
                worker.stop()
                await asyncio.wait_for(running, timeout=30)
            os.remove(filler)
            assert "disk is full" in worker.info()["store_error"]  # just said: still news
            await wait_until(lambda: _said(worker, False), timeout=10, what="the word to lapse")


async def _said(worker: Any, said: bool = True) -> bool:
    return ("store_error" in worker.info()) == said
