"""Fine mode against the scripted LLM vendor on loopback (real HTTP, real SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from tests.fakes.llm_server import Script


def llm_settings(tmp_path: Path, base_url: str, **llm: object) -> Settings:
    return load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "fine.db")},
            "llm": {
                "provider": "openai",
                "base_url": base_url,
                "api_key": "sk-test-secret",
                "model": "extractor",
                "timeout_s": 2,
                "max_attempts": 2,
                "breaker_failures": 5,
                **llm,
            },
        },
    )


@pytest.fixture
async def fine(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> AsyncIterator[AsyncMemory]:
    mem = await AsyncMemory(llm_settings(tmp_path, fake_llm.base_url), embedder=embedder).open()
    try:
        yield mem
    finally:
        await mem.close()
