"""Write-backs while the event queue is down and ``pipeline.on_unavailable = "reject"``.

The gateway answers the chat, then submits the turn to the async pipeline, which refuses it
(503: retry later) while Redis is down. A write-back has no client to retry: it must keep the
turn and try again until Redis answers, never drop it after a fixed budget of retries (it was
dropped after three, about 6 s). Redis here is a real ``redis-server`` of each test's own, stopped
and started (no Redis answering at all is the outage), and the retry pauses are shortened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.gateway import writeback
from memoryd.gateway.writeback import Turn, WriteBack
from memoryd.pipeline import Pipeline
from memoryd.pipeline.local_redis import LocalRedis, free_port
from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, GatewayServer, target
from tests.pipeline.conftest import INSTALL_HINT, _install_redis_server
from tests.pipeline.helpers import burst, stored


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    # The old budget becomes 0.15 s of pauses (it was 6.2 s): an outage of a second outlasts it.
    monkeypatch.setattr(writeback, "RETRIES", (0.05, 0.05, 0.05))
    monkeypatch.setattr(writeback, "QUEUE_RETRY_MAX_S", 0.2, raising=False)


def _writeback(gw: GatewayServer) -> dict[str, int]:
    counts: dict[str, int] = gw.get("/health")["checks"]["gateway"]["writeback"]
    return counts


def test_a_turn_answered_while_redis_is_down_is_stored_once_when_it_is_back(
    gateway: GatewayFactory, fake_llm: Script, tmp_path: Path, embedder: USEEmbedder
) -> None:
    if _install_redis_server() is None:
        pytest.skip(f"redis-server is not installed and cannot be installed here: {INSTALL_HINT}")
    redis = LocalRedis(tmp_path / "redis")  # not started: Redis is down when the chat comes
    fake_llm.default_text("Bees need water nearby.")
    pipeline = {
        "enabled": True, "redis_url": redis.url, "prefix": "wb-down:", "on_unavailable": "reject",
        "timeout_s": 0.5, "block_ms": 100,
    }  # fmt: skip
    try:
        with gateway([[target(fake_llm, "m")]], pipeline=pipeline) as gw:
            raw = gw.client().chat.completions.with_raw_response.create(
                model="m", user="ana", messages=[{"role": "user", "content": "I keep bees in my garden"}]
            )
            assert raw.parse().choices[0].message.content == "Bees need water nearby."
            assert raw.headers["x-memoryd-writeback"] == "on"
            time.sleep(1.0)  # Redis stays down well past the old retry budget
            during = _writeback(gw)
            # Before the fix: failed == 1, the turn dropped ("dropped after 4 attempt(s)").
            assert during["failed"] == 0 and during["lost"] == 0
            assert (during["in_flight"], during["waiting_for_queue"]) == (1, 1)

            redis.start()  # back; the next try, at most QUEUE_RETRY_MAX_S later, queues the turn
            deadline = time.monotonic() + 20
            while (after := _writeback(gw))["queued"] < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert (after["queued"], after["failed"], after["in_flight"], after["waiting_for_queue"]) == (
                1, 0, 0, 0,
            )  # fmt: skip
            report = asyncio.run(burst(gw.memory.settings, embedder))
            memories = gw.memories("ana")
            path = gw.memory.settings.storage.path
    finally:
        redis.stop()
    assert report.processed == 1
    assert sorted(m["text"] for m in memories) == ["Bees need water nearby.", "I keep bees in my garden"]
    counts = stored(path)
    assert sorted(t for _, t in counts) == ["Bees need water nearby.", "I keep bees in my garden"]
    assert set(counts.values()) == {1}  # stored once


def _rejecting(tmp_path: Path) -> Pipeline:
    """A pipeline on a Redis nobody runs (a free port), refusing adds while it is unreachable."""
    settings = load_settings(
        env={},
        overrides={"pipeline": {
            "enabled": True, "redis_url": f"redis://127.0.0.1:{free_port()}/0", "on_unavailable": "reject",
            "timeout_s": 0.5,
        }},
    )  # fmt: skip
    return Pipeline(settings.pipeline, settings.limits)


async def _refused(wb: WriteBack) -> None:
    deadline = time.monotonic() + 5
    while wb.counts.get("waiting_for_queue", 0) == 0:  # (no such count before the fix: it dropped)
        assert time.monotonic() < deadline, wb.counts
        await asyncio.sleep(0.02)


async def test_a_turn_waiting_for_the_queue_is_dropped_at_once_when_its_user_is_forgotten(
    amem: AsyncMemory, tmp_path: Path
) -> None:
    pipeline = _rejecting(tmp_path)
    await pipeline.start()
    try:
        wb = WriteBack(amem.settings.limits)
        wb.schedule(amem, pipeline, Turn("ana", "s1", "I keep bees", "Nice!", "m"))
        wb.schedule(amem, pipeline, Turn("bo", "s1", "I keep goats", "Nice!", "m"))
        await _refused(wb)
        # Waiting on as long as the queue is down would hold the user's deletion as long.
        assert await asyncio.wait_for(wb.forget("default", "ana"), 2) == 1
        assert wb.in_flight == 1 and wb.counts["forgotten"] == 1  # bo's turn still waits
        assert await asyncio.wait_for(wb.forget("default", "bo"), 2) == 1
        assert wb.in_flight == 0 and wb.counts["waiting_for_queue"] == 0
        assert (wb.counts["failed"], wb.counts["lost"]) == (0, 0)
    finally:
        await pipeline.close()


async def test_turns_still_waiting_for_the_queue_at_shutdown_are_stored_directly_not_lost(
    amem: AsyncMemory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = _rejecting(tmp_path)
    await pipeline.start()
    try:
        wb = WriteBack(amem.settings.limits)
        for n in range(3):
            wb.schedule(amem, pipeline, Turn("ana", "s1", f"question {n}", "answer", "m"))
        await _refused(wb)
        with caplog.at_level(logging.WARNING, logger="memoryd.gateway"):
            await asyncio.wait_for(wb.drain(5), 10)
    finally:
        await pipeline.close()
    # They were counted lost and logged as an error: the chat was answered, the turn gone.
    assert (wb.counts["lost"], wb.counts["failed"], wb.counts["waiting_for_queue"]) == (0, 0, 0)
    assert wb.counts["stored"] == 3
    texts = [m.text for m in (await amem.get_all(user_id="ana", limit=50)).items]
    assert all(f"question {n}" in texts for n in range(3)), texts
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "stored directly in the store instead" in caplog.text
