"""Shared fixtures: a real embedder (loaded once), real SQLite files in tmp dirs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from memoryd import AsyncMemory, Memory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from tests.fakes.llm_server import FakeLLMServer, Script

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # the Milvus client: no info lines about forks
# The CLI's tables are as wide as a pipe's (160 columns) whatever runs the tests: pytest-xdist's
# workers are given the terminal's COLUMNS, which would narrow them. A test wanting a width says so.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


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


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeLLMServer]:
    """The scripted LLM vendor on loopback, shared by the session (see tests/fakes/llm_server.py)."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLMServer) -> Script:
    """A freshly reset fake LLM endpoint: script replies, point ``base_url`` at ``fake_llm.base_url``."""
    fake_llm_server.reset()
    return fake_llm_server.script("default")


@pytest.fixture
def fake_llm_factory(fake_llm: Script, fake_llm_server: FakeLLMServer) -> Callable[[], Script]:
    """Makes more fake endpoints (say, one per tier), each with its own queue and log."""
    return lambda: fake_llm_server.new_script()
