"""The throw-away ``redis-server`` of the tests and of ``memoryd bench pipeline``: it starts from a
relative directory (``--workdir wd/pipe``), and a failed start says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd.errors import BackendUnavailableError
from memoryd.pipeline.local_redis import LocalRedis, _pong

# The session's server only for its skip (or install) when redis-server is missing.
pytestmark = pytest.mark.usefixtures("redis_server")


def test_starts_in_a_directory_given_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with LocalRedis(Path("wd/pipe/redis")) as redis:
        assert _pong(redis.port)
        assert redis.directory == tmp_path / "wd" / "pipe" / "redis"
    assert (tmp_path / "wd" / "pipe" / "redis" / "redis.log").is_file()  # not under redis' own --dir


def test_a_failed_start_quotes_what_redis_server_printed(tmp_path: Path) -> None:
    (tmp_path / "redis.log").mkdir()  # its log file cannot be opened: redis-server says so on stderr
    redis = LocalRedis(tmp_path)
    with pytest.raises(BackendUnavailableError) as caught:
        redis.start(timeout_s=10)
    message = caught.value.message
    assert f"redis-server did not start on port {redis.port} (exited with code 1)" in message
    assert "Can't open the log file" in message and "\n" not in message
    assert redis.pid is None
