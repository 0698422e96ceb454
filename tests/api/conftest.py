"""A real uvicorn server on a free loopback port, talked to over real HTTP with httpx.

Most tests get a fresh SQLite store and their own server (``client``); tests
that must leave the store unchanged share one per module (``module_client``).
Start-up takes milliseconds: the embedder is the session's shared one. The
memory is built here but opened by the app's lifespan, inside the server's
event loop, and closed in that same thread once the server has stopped.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.server import create_app

MAX_BODY_BYTES = 256 * 1024
MAX_MESSAGES = 20
MAX_MESSAGE_CHARS = 2_000
MAX_LIMIT = 50


@dataclass
class Running:
    """A live server: its base URL, app and memory."""

    url: str
    app: FastAPI
    memory: AsyncMemory


def make_settings(path: Path) -> Settings:
    """A fresh store at ``path`` with small limits, so limit tests stay fast."""
    return load_settings(
        env={},
        overrides={
            # NORMAL: no fsync per commit; durability is tested elsewhere, not over HTTP.
            "storage": {"path": str(path), "synchronous": "NORMAL"},
            "limits": {
                "max_body_bytes": MAX_BODY_BYTES,
                "max_messages_per_add": MAX_MESSAGES,
                "max_message_chars": MAX_MESSAGE_CHARS,
                "max_limit": MAX_LIMIT,
            },
        },
    )


@contextmanager
def running_server(settings: Settings, embedder: USEEmbedder) -> Iterator[Running]:
    """Serve a new app over ``settings`` (and the shared embedder) until the block exits."""
    memory = AsyncMemory(settings, embedder=embedder)
    app = create_app(settings, memory=memory)
    with running_app(app, after=memory.close) as url:
        yield Running(url, app, memory)


@contextmanager
def running_app(
    app: FastAPI, after: Callable[[], Awaitable[None]] | None = None, *, bind: str = "127.0.0.1"
) -> Iterator[str]:
    """Serve ``app`` under uvicorn in a thread until the block exits; yield its base URL (on
    loopback). ``bind``: the address its socket listens on.

    ``after`` runs in the server's thread and loop once it has stopped.
    """
    # The kernel picks a free port and uvicorn serves on this very socket: no race for the port.
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every keep-alive request waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((bind, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host=bind, port=port, log_level="warning", lifespan="on", ws="none")
    )

    async def main() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            if after is not None:
                await after()  # in the loop and thread that opened the memory
            sock.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="api-test-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "the test server did not stop"


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "api.db")


@pytest.fixture
def server(api_settings: Settings, embedder: USEEmbedder) -> Iterator[Running]:
    """A server over a fresh store, for one test."""
    with running_server(api_settings, embedder) as running:
        yield running


@pytest.fixture
def client(server: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def module_client(tmp_path_factory: pytest.TempPathFactory, embedder: USEEmbedder) -> Iterator[httpx.Client]:
    """One server and store shared by a module's tests (for tests that must not change it)."""
    settings = make_settings(tmp_path_factory.mktemp("api") / "api.db")
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        yield c


def add(
    client: httpx.Client, messages: Any, user_id: str | None = "alice", **extra: Any
) -> list[dict[str, Any]]:
    """Add through /v1 and return the results, asserting success."""
    r = client.post("/v1/memories", json={"messages": messages, "user_id": user_id, **extra})
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def count(client: httpx.Client, **scope: str) -> int:
    """How many current episodes (stored messages) a scope holds (all scopes used by a test
    must be named); memories the fast-mode rules derive from them are not counted."""
    params = {**(scope or {"user_id": "alice"}), "filters": '{"kind": "episode"}'}
    r = client.get("/v1/memories", params=params)
    assert r.status_code == 200, r.text
    total: int = r.json()["total"]
    return total


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert the status and the common error shape; return the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    return error
