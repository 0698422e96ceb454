"""The async pipeline's answers match the body schemas /openapi.json declares for them: a queued
add (202) on both route families, the same event_id again, an event queued and done, and an add
processed at once while Redis is unreachable (see tests/api/test_response_schemas.py)."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis, free_port
from tests.api.conftest import running_server
from tests.api.schema_check import SchemaCheck
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import burst

TURN = {"messages": [{"role": "user", "content": "I keep bees on the roof"}], "user_id": "ana"}
MEM0_TURN = {"messages": "I also grow tomatoes", "user_id": "ana"}


async def test_queued_adds_and_events_match_their_schema(psettings: Settings, embedder: USEEmbedder) -> None:
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        check = SchemaCheck.served_by(c)
        queued = c.post("/v1/memories", json={**TURN, "event_id": "q-1"})
        assert queued.status_code == 202 and check(queued, "/v1/memories")["status"] == "queued"
        again = c.post("/v1/memories", json={**TURN, "event_id": "q-1"})
        assert again.status_code == 200 and check(again, "/v1/memories")["record"]["status"] == "queued"
        pending = c.post("/memories", json={**MEM0_TURN, "event_id": "q-2"})
        assert pending.status_code == 202 and check(pending, "/memories")["results"][0]["status"] == "PENDING"
        dup = c.post("/memories", json={**MEM0_TURN, "event_id": "q-2"})
        assert dup.status_code == 200 and "duplicate" in check(dup, "/memories")["results"][0]["message"]
        waiting = check(c.get("/v1/events/q-1"), "/v1/events/{event_id}")
        assert waiting["status"] == "queued" and "result" not in waiting

        assert (await burst(psettings, embedder)).processed == 2
        done = check(c.get("/v1/events/q-1"), "/v1/events/{event_id}")
        assert done["status"] == "done" and done["result"]["results"][0]["event"] == "ADD"
        assert done["finished_at"] and done["consumer"]
        after = check(c.post("/v1/memories", json={**TURN, "event_id": "q-1"}), "/v1/memories")
        assert after["record"]["status"] == "done" and after["record"]["result"]["results"]
        assert {("post", "/v1/memories", 202), ("post", "/memories", 202)} <= check.checked


def test_adds_processed_with_redis_down_match_their_schema(
    tmp_path: Path, redis_server: LocalRedis, embedder: USEEmbedder
) -> None:
    nowhere = pipeline_settings(tmp_path / "down.db", f"redis://127.0.0.1:{free_port()}/0", "down:")
    with running_server(nowhere, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        check = SchemaCheck.served_by(c)
        bypassed = check(c.post("/v1/memories", json={**TURN, "event_id": "d-1"}), "/v1/memories")
        assert (bypassed["pipeline"], bypassed["mode"]) == ("bypassed", "fast") and bypassed["results"]
        mem0 = check(c.post("/memories", json=MEM0_TURN), "/memories")
        assert mem0["results"][0]["event"] == "ADD" and mem0["event_id"]
