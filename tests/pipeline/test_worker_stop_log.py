"""A worker's last log line says what it did in words, as its closing summary does ("1 processed,
0 duplicates, ..."), not as a Python dict ("stopped ({'processed': 1, ...})")."""

from __future__ import annotations

import logging

import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from tests.pipeline.helpers import burst, producer, turn


async def test_the_stop_line_is_words(
    psettings: Settings, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    async with producer(psettings, embedder) as (pipeline, memory):
        await pipeline.submit_add(memory, turn("ana", 1), event_id="said-1")
    with caplog.at_level(logging.INFO, logger="memoryd.pipeline"):
        report = await burst(psettings, embedder, "w-said")
    assert report.processed == 1
    (line,) = [r.getMessage() for r in caplog.records if "w-said: stopped" in r.getMessage()]
    assert "{" not in line and "'" not in line, line
    assert "1 processed, 0 duplicates, 0 retried, 0 dead-lettered" in line, line
