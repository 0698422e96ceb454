"""Helpers for the LLM tests: targets pointing at the fake server, and a closed port."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from memoryd.llm import Router, Target
from tests.fakes.llm_server import Script

KEY = "sk-test-0123456789abcdefSECRET"


def target(script: Script, provider: str = "custom", model: str = "m", **options: Any) -> Target:
    """A target for ``script`` speaking ``provider``'s wire format."""
    urls = {"gemini": script.gemini_url, "azure": script.azure_url}
    options.setdefault("api_key", KEY)
    options.setdefault("timeout_s", 5.0)
    options.setdefault("base_url", urls.get(provider, script.base_url))
    return Target(provider=provider, model=model, **options)


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` served on a free loopback port while the block runs; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class Clock:
    """A clock tests move by hand (for breaker cool-downs)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def make_router() -> AsyncIterator[Callable[..., Router]]:
    """``make_router([[t1], [t2]], max_attempts=3, ...)``; every router is closed after the test."""
    made: list[Router] = []

    def make(tiers: list[list[Target]], **options: Any) -> Router:
        options.setdefault("backoff_s", 0.01)
        router = Router(tiers, **options)
        made.append(router)
        return router

    yield make
    for router in made:
        await router.aclose()
