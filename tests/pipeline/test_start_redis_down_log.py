"""A server started with Redis down logs what becomes of adds in a sentence: "adds will be processed
synchronously" / "adds will be refused (503)"; it read "adds be processed synchronously"."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import free_port
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer


@pytest.mark.parametrize(
    ("on_unavailable", "said"),
    [
        ("sync", "adds will be processed synchronously until it answers"),
        ("reject", "adds will be refused (503)"),
    ],
)
async def test_the_start_with_redis_down_says_what_adds_will_do(
    tmp_path: Path, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture, on_unavailable: str, said: str
) -> None:
    caplog.set_level(logging.WARNING, logger="memoryd.pipeline")
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = pipeline_settings(tmp_path / "m.db", nowhere, "log:", on_unavailable=on_unavailable)
    async with producer(settings, embedder):
        pass
    lines = [r.getMessage() for r in caplog.records if r.name == "memoryd.pipeline"]
    assert any(said in line for line in lines), lines
    assert not any("adds be " in line for line in lines), lines
