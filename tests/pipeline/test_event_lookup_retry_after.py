"""The 503 of ``GET /v1/events/{id}`` while Redis is down (and the store does not know the id) had
no ``Retry-After``, while the pipeline's other 503s (an add refused with Redis down) say when to
ask again: it now says the same (5 s)."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import free_port
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings


def test_an_event_lookup_with_redis_down_says_when_to_ask_again(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = pipeline_settings(tmp_path / "m.db", nowhere, "ra:", on_unavailable="reject")
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        body = {"messages": "I keep bees", "user_id": "ana", "event_id": "e-1"}
        refused = c.post("/v1/memories", json=body)
        assert refused.status_code == 503, refused.text
        looked = c.get("/v1/events/e-2")
        assert looked.status_code == 503, looked.text
        assert looked.headers.get("retry-after") == refused.headers["retry-after"] == "5", looked.headers
        looked = c.get("/v1/events/e-2", params={"user_id": "ana"})
        assert looked.status_code == 503 and looked.headers.get("retry-after") == "5", looked.headers
