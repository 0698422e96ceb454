"""A Milvus server that does not answer: pymilvus's exceptions print as
``<MilvusException: (code=2, message=...)>``, and that was shown raw in the 503's message and in
``memoryd doctor``'s detail; the message is now plain, naming the server (its password masked),
as the Qdrant and PostgreSQL backends' are."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd.cli.doctor import reach_checks
from memoryd.config import Settings, load_settings
from memoryd.errors import StorageError
from tests.storage.falkordb_server import free_port
from tests.storage.helpers import opened

pytest.importorskip("pymilvus", reason="the milvus client is not installed (pip install 'memoryd[milvus]')")


def closed_server(tmp: Path) -> tuple[Settings, str]:
    """Settings whose Milvus server is a closed port on this machine, and that server as shown."""
    port = free_port()
    milvus = {"uri": f"http://memoryd:hunter2@127.0.0.1:{port}", "timeout": 2}
    overrides = {"storage": {"path": str(tmp / "m.db"), "vectors": "milvus", "milvus": milvus}}
    return load_settings(env={}, overrides=overrides), f"http://memoryd:***@127.0.0.1:{port}"


def assert_plain(message: str, shown: str) -> None:
    assert message.startswith(f"Milvus at {shown} failed while "), message
    assert "hunter2" not in message
    assert "MilvusException" not in message and "code=" not in message and "<" not in message, message


async def test_a_server_that_does_not_answer_is_a_503_in_plain_words(tmp_path: Path) -> None:
    settings, shown = closed_server(tmp_path)
    with pytest.raises(StorageError) as err:
        async with opened(settings):
            pass
    assert err.value.status_code == 503 and err.value.field == "storage.milvus.uri"
    assert_plain(err.value.message, shown)


def test_doctor_names_the_server_in_plain_words(tmp_path: Path) -> None:
    settings, shown = closed_server(tmp_path)
    [check] = [c for c in reach_checks(settings) if c.name == "backend:vectors"]
    assert check.status == "fail"
    assert_plain(check.detail, shown)
    assert "storage.milvus.uri" in (check.fix or "")
