"""A user key is told why the LLM fell short, but not where the upstream is.

The gateway shows an end user (a user-bound key) no upstream's address: ``/v1/models`` leaves
the targets out, a failure says "no upstream LLM answered". An add's ``llm.fallback`` told it
anyway: "no LLM target answered: openai:m@127.0.0.1:PORT: connection failed: Cannot connect
to host 127.0.0.1:PORT", through /v1, the mem0 routes and MCP alike. A user key now reads the
target as its provider and model and the host as "the upstream"; an admin key sees it all.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd.config import Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server
from tests.auth.conftest import bearer, new_key
from tests.mcp.test_http import HEADERS, call


def _closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: nothing answers there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def down(tmp_path: Path, embedder: USEEmbedder) -> Iterator[tuple[httpx.Client, Settings, str]]:
    port = _closed_port()
    llm = {"provider": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "api_key": "k", "model": "m",
           "timeout_s": 1, "max_attempts": 1}  # fmt: skip
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "data" / "m.db")}, "llm": llm})
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        yield c, settings, f"127.0.0.1:{port}"


def test_a_user_key_is_not_shown_the_upstreams_address(down: tuple[httpx.Client, Settings, str]) -> None:
    http, settings, place = down
    user = bearer(new_key(settings, "user", user_id="ana"))
    admin = bearer(new_key(settings, "admin"))
    said: dict[str, Any] = {
        "v1": http.post("/v1/memories", json={"messages": "I live in Paris"}, headers=user).json(),
        "mem0": http.post("/memories", json={"messages": [{"role": "user", "content": "I like jazz"}]},
                          headers=user).json(),  # fmt: skip
        "mcp": http.post("/mcp", json=call("add_memory", messages="I play chess", mode="fine"),
                         headers={**HEADERS, **user}).json()["result"]["structuredContent"],  # fmt: skip
    }
    for route, body in said.items():
        reason = str(body.get("llm", {}).get("fallback") or body.get("notice") or "")
        assert reason and place not in reason and "127.0.0.1" not in reason, (route, body)
    assert "openai:m" in said["v1"]["llm"]["fallback"]  # which model failed, still said

    full = http.post("/v1/memories", json={"messages": "I live in Rome", "user_id": "bo"}, headers=admin).json()
    assert place in full["llm"]["fallback"]  # an operator sees where
