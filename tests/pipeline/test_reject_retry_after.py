"""The 503 of an add refused with Redis down and ``pipeline.on_unavailable = "reject"`` says when to
send it again (``Retry-After``, seconds), as memoryd's other 503s that a retry may cure do: before,
it had none, so a client could only guess."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import free_port
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings


def test_a_refused_add_says_when_to_retry(tmp_path: Path, embedder: USEEmbedder) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = pipeline_settings(tmp_path / "m.db", nowhere, "rej:", on_unavailable="reject")
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        for path in ("/v1/memories", "/memories"):
            refused = c.post(path, json={"messages": "I keep bees", "user_id": "ana", "event_id": "e-1"})
            assert refused.status_code == 503, refused.text
            assert "'reject'" in refused.json()["error"]["message"]
            wait = refused.headers.get("retry-after")
            assert wait is not None and wait.isdecimal(), refused.headers
            assert 1 <= int(wait) <= 30  # seconds; memoryd.remote waits as long as that, then sends it again
