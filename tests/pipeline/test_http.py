"""The pipeline over real HTTP: 202 and event ids, duplicates, event status, /health, /metrics, fallbacks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis, free_port
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst, wait_until, worker_over

TURN = {"messages": [{"role": "user", "content": "I keep bees on the roof"}], "user_id": "ana"}


async def test_adds_are_queued_then_done_and_searchable(psettings: Settings, embedder: USEEmbedder) -> None:
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/memories", json={**TURN, "event_id": "http-1"})
        assert r.status_code == 202 and r.json() == {
            "event_id": "http-1",
            "status": "queued",
            "pipeline": "queued",
        }
        again = c.post("/v1/memories", json={**TURN, "event_id": "http-1"})
        assert again.status_code == 200
        assert again.json()["event"] == "NOOP" and again.json()["record"]["status"] == "queued"
        bad = c.post("/v1/memories", json={"messages": [{"role": "user", "content": " "}], "user_id": "ana"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "messages.0.content"  # never queued
        mem0 = c.post("/memories", json={"messages": "I also grow tomatoes", "user_id": "ana"})
        assert mem0.status_code == 202
        (row,) = mem0.json()["results"]
        assert row["status"] == "PENDING" and row["event_id"]

        assert c.get("/v1/events/http-1").json()["status"] == "queued"
        assert c.get("/v1/events/unknown-1").status_code == 404
        assert c.get("/v1/events/not%20an%20id").json()["error"]["field"] == "event_id"
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["mode"] == "DegradedReady"  # queued, but no worker is alive
        check = health.json()["checks"]["pipeline"]
        assert (check["lag"], check["pending"], check["workers_alive"], check["writes"]) == (
            2,
            0,
            0,
            "queued",
        )
        metrics = c.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        for line in ("memoryd_pipeline_enabled 1", "memoryd_pipeline_lag 2", "memoryd_pipeline_dlq_size 0",
                     'memoryd_pipeline_submissions_total{path="queued"} 2',
                     'memoryd_pipeline_submissions_total{path="duplicate"} 1'):  # fmt: skip
            assert line in metrics.text

        report = await burst(psettings, embedder)  # a worker process would do this
        assert report.processed == 2
        event = c.get("/v1/events/http-1").json()
        assert event["status"] == "done" and event["result"]["results"][0]["event"] == "ADD"
        hits = c.post("/v1/memories/search", json={"query": "bees", "user_id": "ana"}).json()["results"]
        assert hits[0]["memory"] == "I keep bees on the roof"  # written by the worker, found by the server
        assert c.get("/memories", params={"user_id": "ana"}).json()["results"][0]["memory"]

        async with worker_over(psettings, embedder, "live") as worker:
            running = asyncio.create_task(worker.run())

            async def alive() -> bool:
                return c.get("/health").json().get("mode") == "FullyOperational"

            await wait_until(alive, what="/health to see the worker")
            pipeline = c.get("/health").json()["checks"]["pipeline"]
            assert pipeline["status"] == "ok" and pipeline["workers"][0]["consumer"] == "live"
            assert "memoryd_pipeline_workers 1" in c.get("/metrics").text
            worker.stop()
            await asyncio.wait_for(running, timeout=30)


async def test_a_deleted_users_queued_events_do_not_bring_it_back(psettings: Settings, embedder: USEEmbedder) -> None:
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/v1/memories", json={**TURN, "event_id": "before-1"}).status_code == 202
        other = {**TURN, "user_id": "bo", "event_id": "bo-1"}
        assert c.post("/v1/memories", json=other).status_code == 202
        r = c.delete("/v1/users/ana")  # no worker yet: ana's event is still queued
        assert r.status_code == 200, r.text
        after = {"messages": "I visited Oslo", "user_id": "ana", "event_id": "after-1"}
        assert c.post("/v1/memories", json=after).status_code == 202
        report = await burst(psettings, embedder)
        assert report.processed == 2  # ana's event queued before the deletion was erased with her
        assert c.get("/v1/events/before-1").status_code == 404
        texts = [m["text"] for m in c.get("/v1/memories", params={"user_id": "ana"}).json()["results"]]
        assert texts == ["I visited Oslo"]  # what was sent after the deletion is kept
        assert c.get("/v1/memories", params={"user_id": "bo"}).json()["total"] == 1
        # A reset erases what is queued too, for every user; what comes after it is kept.
        for n, route in enumerate(("/v1/reset", "/reset")):
            queued = {"messages": f"queued before reset {n}", "user_id": "cy", "event_id": f"reset-{n}"}
            assert c.post("/v1/memories", json=queued).status_code == 202
            bots = {"messages": f"the bot's own note {n}", "agent_id": "bot", "event_id": f"bot-{n}"}
            assert c.post("/v1/memories", json=bots).status_code == 202  # no user: a reset covers it too
            assert c.post(route).status_code == 200
            assert c.post("/v1/memories", json={**queued, "event_id": f"later-{n}"}).status_code == 202
            assert (await burst(psettings, embedder)).processed == 1
            for skipped_id in (f"reset-{n}", f"bot-{n}"):
                assert c.get(f"/v1/events/{skipped_id}").status_code == 404
            assert c.get("/v1/memories", params={"agent_id": "bot"}).json()["total"] == 0
            texts = [m["text"] for m in c.get("/v1/memories", params={"user_id": "cy"}).json()["results"]]
            assert texts == [f"queued before reset {n}"]  # the copy sent after the reset
            assert c.get("/v1/memories", params={"user_id": "bo"}).json()["total"] == 0


async def test_with_redis_down_adds_are_processed_synchronously_or_refused(
    tmp_path: Path, redis_server: LocalRedis, embedder: USEEmbedder
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    sync = pipeline_settings(tmp_path / "sync.db", nowhere, "down:")
    with running_server(sync, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/memories", json={**TURN, "event_id": "sync-1"})
        body = r.json()
        assert r.status_code == 200 and (body["status"], body["pipeline"]) == ("done", "bypassed")
        assert (
            body["event_id"] == "sync-1"
            and body["results"][0]["event"] == "ADD"
            and "unreachable" in body["reason"]
        )
        assert c.get("/v1/memories", params={"user_id": "ana"}).json()["total"] == 1  # stored now
        health = c.get("/health")
        assert health.status_code == 200
        assert (health.json()["status"], health.json()["mode"]) == ("degraded", "DegradedReady")
        assert health.json()["checks"]["pipeline"]["writes"] == "synchronous"
        assert c.get("/health/ready").json() == {"status": "ready", "mode": "DegradedReady"}
        looked = c.get("/v1/events/sync-1")  # the store knows it: done, on the synchronous path
        assert (looked.status_code, looked.json()["status"], looked.json()["pipeline"]) == (200, "done", "bypassed")
        assert c.get("/v1/events/other-1").status_code == 503  # one the store does not know: Redis may
        metrics = c.get("/metrics").text
        assert "memoryd_pipeline_redis_up 0" in metrics
        assert 'memoryd_pipeline_submissions_total{path="bypassed"} 1' in metrics
        mem0 = c.post("/memories", json={"messages": "I also grow tomatoes", "user_id": "ana"}).json()
        assert mem0["results"][0]["event"] == "ADD" and mem0["event_id"]
        # Deleting a user needs Redis (its queued events must be skipped): 503, nothing deleted.
        r = c.delete("/v1/users/ana")
        assert r.status_code == 503 and "nothing is deleted" in r.json()["error"]["message"]
        assert c.get("/v1/memories", params={"user_id": "ana"}).json()["total"] == 2

    reject = pipeline_settings(tmp_path / "reject.db", nowhere, "down:", on_unavailable="reject")
    with running_server(reject, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/memories", json=TURN)
        assert r.status_code == 503 and r.json()["error"]["code"] == "backend_unavailable"
        assert c.get("/v1/memories", params={"user_id": "ana"}).json()["total"] == 0  # nothing half-done
        assert c.get("/health").json()["checks"]["pipeline"]["writes"] == "rejected"


async def test_with_the_pipeline_off_adds_stay_synchronous(tmp_path: Path, embedder: USEEmbedder) -> None:
    off = pipeline_settings(tmp_path / "off.db", "redis://127.0.0.1:1/0", "off:", enabled=False)
    with running_server(off, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/memories", json={**TURN, "event_id": "off-1"})
        assert (
            r.status_code == 200
            and r.json()["results"][0]["event"] == "ADD"
            and r.json()["event_id"] == "off-1"
        )
        assert c.post("/v1/memories", json={**TURN, "event_id": "bad id"}).status_code == 422
        assert c.get("/v1/events/off-1").json()["error"]["code"] == "not_supported"
        assert "pipeline" not in c.get("/health").json()["checks"]
        assert "memoryd_pipeline_enabled 0" in c.get("/metrics").text
