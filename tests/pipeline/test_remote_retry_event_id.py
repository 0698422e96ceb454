"""The remote client sends an add again after a 503, and with ``pipeline.on_unavailable = "reject"``
that 503 may come from a Redis that queued the event but answered too late. The add sent again
must be the same event: before, an add given no ``event_id`` was sent again without one, the server
named it anew, and a worker applied the add twice (two events for one call)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis

from memoryd import AsyncMemoryClient
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis
from memoryd.remote import Submitted
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, stored


def _asleep(url: str) -> bool:
    """Whether Redis does not answer a PING within 50 ms (it runs DEBUG SLEEP)."""
    probe = redis.Redis.from_url(url, socket_timeout=0.05)
    try:
        probe.ping()
    except redis.TimeoutError:
        return True
    finally:
        probe.close()
    return False


async def test_an_add_sent_again_after_a_late_redis_is_applied_once(
    tmp_path: Path, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    server = LocalRedis(tmp_path / "redis", appendonly=False, options={"enable-debug-command": "local"})
    server.start()
    try:
        settings = pipeline_settings(
            tmp_path / "m.db", server.url, "late:", on_unavailable="reject", timeout_s=0.25
        )
        with running_server(settings, embedder) as api:
            async with AsyncMemoryClient(api.url, max_retries=5) as client:
                await client.add("I grow tomatoes", user_id="ana")  # Redis has the enqueue script now
                sleeper = redis.Redis.from_url(server.url, socket_timeout=10)
                # Redis stops answering for 1.5 s: the server's enqueue times out (503) and lands after.
                sleep = threading.Thread(target=sleeper.execute_command, args=("DEBUG", "SLEEP", "1.5"))
                sleep.start()
                try:
                    deadline = time.monotonic() + 10
                    while not _asleep(server.url):
                        assert time.monotonic() < deadline, "Redis never ran DEBUG SLEEP"
                        time.sleep(0.01)
                    submitted = await client.add("I keep bees on the roof", user_id="ana")
                finally:
                    sleep.join()
                    sleeper.close()
                assert isinstance(submitted, Submitted) and submitted.event_id
                refused = [r for r in caplog.records if "'reject'" in r.getMessage()]
                assert len(refused) >= 1  # the first attempt was answered 503, and sent again
            report = await burst(settings, embedder)
        assert report.processed == 2  # one event for each add, not the second one and its retry's
        assert stored(tmp_path / "m.db")[("ana", "I keep bees on the roof")] == 1
    finally:
        server.stop(kill=True)
