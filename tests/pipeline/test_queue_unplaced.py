"""A user key is not told where Redis is: with the event queue unreachable, an add's ``reason`` and
the 503s of event lookups and deletions name neither Redis's host nor its port (as an LLM upstream
is "the upstream" to it); a service key is told, as the logs are."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import free_port
from tests.api.conftest import running_server
from tests.auth.conftest import bearer, new_key
from tests.pipeline.conftest import pipeline_settings


async def test_a_user_key_is_not_told_where_redis_is(tmp_path: Path, embedder: USEEmbedder) -> None:
    port = free_port()
    down = pipeline_settings(tmp_path / "m.db", f"redis://user1:PASS@127.0.0.1:{port}/0", "down:")
    alice = bearer(new_key(down, "user", user_id="alice"))
    service = bearer(new_key(down, "service"))
    with running_server(down, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/memories", json={"messages": "I keep bees"}, headers=alice)
        assert r.status_code == 200 and "unreachable" in r.json()["reason"]
        answers = [r, c.get("/v1/events/x", headers=alice), c.delete("/v1/users/alice", headers=alice)]
        assert [a.status_code for a in answers] == [200, 503, 503]
        for answer in answers:
            assert str(port) not in answer.text and "127.0.0.1" not in answer.text, answer.text
            assert "PASS" not in answer.text
        assert "unreachable" in answers[1].json()["error"]["message"]
        assert "nothing is deleted" in answers[2].json()["error"]["message"]
        told = c.get("/v1/events/x", headers=service)  # a service key is told where it is
        assert told.status_code == 503 and f"127.0.0.1:{port}" in told.text and "PASS" not in told.text

    reject = pipeline_settings(tmp_path / "r.db", f"redis://127.0.0.1:{port}/0", "down:", on_unavailable="reject")
    alice = bearer(new_key(reject, "user", user_id="alice"))
    with running_server(reject, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/memories", json={"messages": "I keep bees"}, headers=alice)
        assert r.status_code == 503 and "unreachable" in r.text and str(port) not in r.text, r.text
