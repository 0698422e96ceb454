"""A server started with Redis down logged its warning twice (once bare, once with what adds will
do), and one started with a pipeline.redis_url Redis refuses (a database it does not have) said adds
would be refused "until it answers", when Redis answers already: the fix is the URL. It now logs one
warning, saying until what."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis, free_port
from tests.api.conftest import running_server
from tests.pipeline.conftest import pipeline_settings
from tests.pipeline.helpers import producer


async def _start_lines(
    settings_url: str, tmp_path: Path, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> list[str]:
    caplog.set_level(logging.WARNING, logger="memoryd.pipeline")
    settings = pipeline_settings(tmp_path / "m.db", settings_url, "once:")
    async with producer(settings, embedder):
        pass
    return [r.getMessage() for r in caplog.records if r.name == "memoryd.pipeline"]


async def test_a_start_with_redis_down_warns_once(
    tmp_path: Path, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    lines = await _start_lines(f"redis://127.0.0.1:{free_port()}/0", tmp_path, embedder, caplog)
    assert len(lines) == 1, lines
    assert (
        "is unreachable" in lines[0] and "adds will be processed synchronously until it answers" in lines[0]
    )


async def test_a_start_with_a_database_redis_lacks_says_the_url_is_the_fix(
    tmp_path: Path, redis_server: LocalRedis, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/99"
    lines = await _start_lines(url, tmp_path, embedder, caplog)
    assert len(lines) == 1, lines
    assert "has no database 99" in lines[0], lines
    assert lines[0].endswith("adds will be refused (503) until Redis accepts pipeline.redis_url"), lines


def test_a_server_started_with_redis_down_does_not_say_adds_go_to_the_stream(
    tmp_path: Path, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="memoryd")
    settings = pipeline_settings(tmp_path / "m.db", f"redis://127.0.0.1:{free_port()}/0", "once:")
    with running_server(settings, embedder):
        pass
    said = [r.getMessage() for r in caplog.records if r.name == "memoryd.server"]
    started = [line for line in said if line.startswith("async pipeline on")]
    assert len(started) == 1, said
    assert started[0].startswith("async pipeline on: adds will go to, once Redis takes them, stream once:")
