"""The chat gateway on a real uvicorn server, in front of scripted upstream vendors on loopback.

``gateway(tiers, **sections)`` starts memoryd with ``[llm]`` tiers pointing at
fake scripts (``tests/fakes/llm_server.py``: OpenAI-, Anthropic- and
Gemini-shaped, every request recorded) and a fresh SQLite store, and yields a
:class:`GatewayServer`. The memory itself runs in fast mode (the gateway's
upstreams are not its LLM), so only chat calls reach the fake upstreams and
their request logs hold exactly what the gateway forwarded. Authentication is
on, as in production: an admin key is created first and every client sends it
(``key(...)`` makes others, a user-bound one say). Clients are the official
``openai`` SDK (no retries: every upstream call is the test's).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.auth import create_key, open_key_store
from memoryd.embedders.use import USEEmbedder
from memoryd.server import create_app
from tests.api.conftest import running_app
from tests.fakes.llm_server import Script


def target(script: Script, model: str, provider: str = "custom", key: str | None = None) -> dict[str, Any]:
    """One ``llm.tiers`` target served by ``script`` (in the wire format ``provider`` speaks)."""
    url = script.gemini_url if provider == "gemini" else script.base_url
    return {"provider": provider, "model": model, "base_url": url, "api_key": key or f"sk-up-{model}"}


def key(settings: Settings, role: str = "admin", **options: Any) -> str:
    """A new API key of the server's key store."""
    store = open_key_store(settings)
    try:
        return create_key(store, role, name="gateway-test", **options).key
    finally:
        store.close()


@dataclass
class GatewayServer:
    url: str
    app: FastAPI
    memory: AsyncMemory
    settings: Settings
    key: str  # an admin key
    clients: list[openai.OpenAI] = field(default_factory=list)  # closed when the server stops

    def client(self, key: str | None = None, **options: Any) -> openai.OpenAI:
        """An SDK client, closed with the server: left to the garbage collector, its pooled socket
        can be finalised before the client and warn in whichever later test runs the collection."""
        client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key or self.key, max_retries=0, **options)
        self.clients.append(client)
        return client

    def async_client(self, key: str | None = None, **options: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.url}/v1", api_key=key or self.key, max_retries=0, **options
        )

    def http(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)

    def get(self, path: str, **params: Any) -> Any:
        with self.http() as http:
            r = http.get(path, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def memories(self, user_id: str, kind: str = "episode") -> list[dict[str, Any]]:
        params = {"user_id": user_id, "filters": f'{{"kind": "{kind}"}}', "limit": 100}
        with self.http() as http:
            r = http.get("/v1/memories", params=params)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["results"]
        return items

    def writebacks(self) -> dict[str, int]:
        """The write-back counts of ``/health`` once none is in flight (they run in the background)."""
        for _ in range(1500):
            counts: dict[str, int] = self.get("/health")["checks"]["gateway"]["writeback"]
            if counts["in_flight"] == 0:
                return counts
            time.sleep(0.02)
        raise AssertionError(f"write-backs still pending: {counts}")

    def wait_for_memories(self, user_id: str, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """The user's episodes once there are ``count`` (write-backs run in the background)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.memories(user_id)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


def gateway_settings(path: Path, tiers: list[list[dict[str, Any]]], **sections: dict[str, Any]) -> Settings:
    llm = {"tiers": tiers, "timeout_s": 5.0, "max_attempts": 4, **sections.pop("llm", {})}
    return load_settings(
        env={},
        overrides={
            "storage": {"path": str(path), "synchronous": "NORMAL"},
            "llm": llm,
            "gateway": {"usage_flush_s": 0.2, **sections.pop("gateway", {})},
            "auth": {"rate_limit_per_s": 0},
            **sections,
        },
    )


@contextmanager
def serve_gateway(
    path: Path,
    embedder: USEEmbedder | None,
    tiers: list[list[dict[str, Any]]],
    /,
    *,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
    **sections: dict[str, Any],
) -> Iterator[GatewayServer]:
    """``embedder`` None: the store's is the ``embedder`` section's; ``wrap``: what stands between
    uvicorn and the app (a client's behaviour at the ASGI level)."""
    settings = gateway_settings(path, tiers, **sections)
    # The store in fast mode: the fake upstreams serve chat only.
    plain = settings.model_copy(update={"llm": load_settings(env={}).llm})
    memory = AsyncMemory(plain, embedder=embedder)
    app = create_app(settings, memory=memory)
    admin = key(settings)
    with running_app(wrap(app) if wrap else app, after=memory.close) as url:
        server = GatewayServer(url, app, memory, settings, admin)
        try:
            yield server
        finally:
            for client in server.clients:
                client.close()


GatewayFactory = Callable[..., AbstractContextManager[GatewayServer]]


@pytest.fixture
def gateway(tmp_path: Path, embedder: USEEmbedder) -> GatewayFactory:
    """``with gateway([[target(fake, "m1")]], gateway={...}) as gw:`` — a server over a fresh store."""
    counter = iter(range(1000))

    def make(
        tiers: list[list[dict[str, Any]]],
        *,
        wrap: Callable[[ASGIApp], ASGIApp] | None = None,
        **sections: dict[str, Any],
    ) -> AbstractContextManager[GatewayServer]:
        return serve_gateway(tmp_path / f"gw{next(counter)}.db", embedder, tiers, wrap=wrap, **sections)

    return make


def add_memory(gw: GatewayServer, text: str, user_id: str, **extra: Any) -> None:
    with gw.http() as http:
        r = http.post(
            "/v1/memories",
            json={"messages": [{"role": "user", "content": text}], "user_id": user_id, **extra},
        )
    assert r.status_code == 200, r.text
