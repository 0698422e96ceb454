"""A ``unix://`` ``pipeline.redis_url`` is named by its socket path in messages and ``/health``
(``/run/redis.sock``, ``/run/redis.sock (db 2)``), never its password; before, it read
``?:6379/run/redis.sock``, an address no one could find. A user key is told neither."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis as redis_sync

from memoryd.embedders.use import USEEmbedder
from memoryd.pipeline.local_redis import LocalRedis
from tests.api.conftest import running_server
from tests.auth.conftest import bearer, new_key
from tests.pipeline.conftest import pipeline_settings


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short folder for the socket (a unix socket's path is at most 107 bytes; tmp_path's may be longer)."""
    with tempfile.TemporaryDirectory(prefix="rsock-") as folder:
        yield Path(folder)


async def test_a_unix_socket_redis_is_named_by_its_path(
    tmp_path: Path, socket_dir: Path, redis_server: LocalRedis, embedder: USEEmbedder
) -> None:
    sock = socket_dir / "redis.sock"
    options = {"unixsocket": str(sock), "unixsocketperm": "700"}
    with LocalRedis(tmp_path / "redis", options=options) as redis:
        with redis_sync.Redis(unix_socket_path=str(sock)) as admin:  # its start is checked password-less
            admin.config_set("requirepass", "S3CRET")
        settings = pipeline_settings(tmp_path / "m.db", f"unix://:S3CRET@{sock}?db=2", "unix:")
        service = bearer(new_key(settings, "service"))
        alice = bearer(new_key(settings, "user", user_id="alice"))
        admin = bearer(new_key(settings, "admin"))
        with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            assert (
                c.post(
                    "/v1/memories", json={"messages": "I keep bees", "user_id": "ana"}, headers=service
                ).status_code
                == 202
            )
            health = c.get("/health", headers=admin).json()["checks"]["pipeline"]
            assert health["redis"] == f"{sock} (db 2)", health

            redis.stop()
            down = c.post("/v1/memories", json={"messages": "I sing", "user_id": "ana"}, headers=service)
            assert down.status_code == 200 and down.json()["pipeline"] == "bypassed", down.text
            reason = down.json()["reason"]
            assert f"Redis at {sock} (db 2) is unreachable" in reason, reason
            health = c.get("/health", headers=admin).json()["checks"]["pipeline"]
            assert health["redis"] == f"{sock} (db 2)" and str(sock) in health["error"], health
            for answer in (down, c.get("/health", headers=admin)):
                assert "6379" not in answer.text and "?:" not in answer.text and "S3CRET" not in answer.text

            told = c.post("/v1/memories", json={"messages": "I row"}, headers=alice)
            assert told.status_code == 200 and "unreachable" in told.json()["reason"], told.text
            looked = c.get("/v1/events/x", headers=alice)
            assert looked.status_code == 503
            for answer in (told, looked):
                assert str(sock) not in answer.text and "redis.sock" not in answer.text, answer.text
                assert "db 2" not in answer.text, answer.text
                assert "S3CRET" not in answer.text
