"""Shared fixtures: a real embedder (loaded once), real SQLite files in tmp dirs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from memoryd import AsyncMemory, Memory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder() -> USEEmbedder:
    """The default embedder, loaded once per test session (~1 s)."""
    return USEEmbedder(threads=2)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a fresh SQLite store in this test's tmp dir (environment ignored)."""
    return load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "memoryd.db")}})


@pytest.fixture
async def amem(settings: Settings, embedder: USEEmbedder) -> AsyncIterator[AsyncMemory]:
    mem = await AsyncMemory(settings, embedder=embedder).open()
    try:
        yield mem
    finally:
        await mem.close()


@pytest.fixture
def mem(settings: Settings, embedder: USEEmbedder) -> Iterator[Memory]:
    with Memory(settings, embedder=embedder) as m:
        yield m
