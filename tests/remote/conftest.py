"""A real memoryd server (uvicorn on loopback, tests/api's) and the remote client on it, beside an
embedded :class:`AsyncMemory` over an equivalent store (same settings, same embedder)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from memoryd import AsyncMemory, AsyncMemoryClient
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import Running, make_settings, running_server


@pytest.fixture
def served(tmp_path: Path, embedder: USEEmbedder) -> Iterator[Running]:
    with running_server(make_settings(tmp_path / "served" / "memoryd.db"), embedder) as running:
        yield running


@pytest.fixture
async def remote(served: Running) -> AsyncIterator[AsyncMemoryClient]:
    async with AsyncMemoryClient(served.url, timeout=30) as client:
        yield client


@pytest.fixture
async def local(tmp_path: Path, embedder: USEEmbedder) -> AsyncIterator[AsyncMemory]:
    """The embedded API over a store made with the served store's settings."""
    async with AsyncMemory(make_settings(tmp_path / "local" / "memoryd.db"), embedder=embedder) as mem:
        yield mem
