"""The ``openai`` embedder's settings as users write them, against the scripted fake's ``/v1/embeddings``
(tests/fakes/llm_server.py): ``embedder.dim = 0`` (ask the endpoint) from every source,
``embedder.timeout_s``, and the ``Retry-After`` an embeddings server's 429 asks for, sent on to a REST
caller's 503."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.errors import BackendUnavailableError, ConfigError
from memoryd.server import create_app
from tests.api.conftest import error_of, running_app
from tests.fakes.llm_server import Script


@pytest.fixture
def server(fake_llm_factory: Callable[[], Script]) -> Script:
    """A script of this test's own: a URL no earlier test's embedder learnt a dimension from."""
    script = fake_llm_factory()
    script.embedding_dim = 4
    return script


def _section(server: Script) -> dict[str, Any]:
    return {"provider": "openai", "model": "m", "base_url": server.base_url}


@pytest.mark.parametrize("source", ["env", "env-spaced", "toml", "override-int", "override-text"])
def test_dim_0_asks_the_endpoint_from_every_source(server: Script, tmp_path: Path, source: str) -> None:
    """MEMORYD_EMBEDDER__DIM=0, as README's `dim = 0  # 0 = ask the endpoint once` and doctor's fix
    say, was refused: "greater than or equal to 1" (the environment gives the text "0")."""
    env: dict[str, str] = {}
    overrides: dict[str, Any] = {"embedder": _section(server)}
    path = None
    if source.startswith("env"):
        env["MEMORYD_EMBEDDER__DIM"] = " 0 " if source == "env-spaced" else "0"
    elif source == "toml":
        path = tmp_path / "memoryd.toml"
        path.write_text("[embedder]\ndim = 0\n")
    else:  # --set embedder.dim=0 gives the text, a program the number
        overrides["embedder"]["dim"] = 0 if source == "override-int" else "0"
    settings = load_settings(path, env=env, overrides=overrides)
    assert settings.embedder.dim is None
    embedder = OpenAIEmbedder.from_config(settings.embedder)
    assert embedder.dim == server.embedding_dim and server.requests[0].json["input"] == ["dimension probe"]
    embedder.close()


@pytest.mark.parametrize("dim", ["-1", "four"])
def test_a_dim_neither_0_nor_a_size_is_still_refused(dim: str) -> None:
    with pytest.raises(ConfigError, match="embedder.dim"):
        load_settings(env={"MEMORYD_EMBEDDER__DIM": dim})


@pytest.mark.parametrize("timeout", ["0", "-1", "nan"])
def test_timeout_s_must_be_a_positive_number(timeout: str) -> None:
    assert load_settings(env={}).embedder.timeout_s == 60
    with pytest.raises(ConfigError, match="embedder.timeout_s"):
        load_settings(env={"MEMORYD_EMBEDDER__TIMEOUT_S": timeout})


def test_timeout_s_is_how_long_each_try_waits_for_an_answer(server: Script) -> None:
    """There was no embedder.timeout_s: a server that took the connection and never answered held a
    batch, or a search's one query, 3 x 60 s (and the backoff)."""
    env = {"MEMORYD_EMBEDDER__TIMEOUT_S": "0.5"}
    settings = load_settings(env=env, overrides={"embedder": {**_section(server), "dim": 4}})
    embedder = OpenAIEmbedder.from_config(settings.embedder)
    server.hang(120, times=3)  # cut short by the next test's reset
    with pytest.raises(BackendUnavailableError) as info:
        embedder.embed(["where does Ana live?"])
    assert "did not answer within 0.5 s (3 of 3 tries)" in info.value.message
    assert len(server.requests) == 3
    embedder.close()


def _quota(server: Script, wait: str, times: int = 1) -> None:
    server.reply_body(
        {"error": {"message": "rate limit"}}, status=429, headers={"retry-after": wait}, times=times
    )


def test_a_503_from_the_embedders_429_says_retry_after(server: Script, tmp_path: Path) -> None:
    """The embeddings server's 429 asked for a wait (details.retry_after in the 503's body) but the
    503 a REST caller got had no Retry-After header: a client could only guess when to retry."""
    settings = load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "m.db"), "synchronous": "NORMAL"},
            "embedder": {**_section(server), "dim": 4},
        },
    )
    memory = AsyncMemory(settings)
    app = create_app(settings, memory=memory)
    ana = {"user_id": "ana"}
    with running_app(app, after=memory.close) as url, httpx.Client(base_url=url, timeout=60) as client:
        added = client.post("/v1/memories", json={"messages": "Ana lives in Porto", **ana})
        assert added.status_code == 200, added.text
        search = {"query": "where does Ana live?", **ana}
        assert client.post("/v1/memories/search", json=search).json()["results"]
        _quota(server, "30")  # longer than memoryd waits: given up at once
        refused = client.post("/v1/memories/search", json={**search, "query": "Ana's city?"})
        assert error_of(refused, 503)["details"]["retry_after"] == 30
        assert refused.headers["retry-after"] == "30"
        _quota(server, "1", times=3)  # waited for, three times: the last wait is said
        again = client.post("/v1/memories/search", json={**search, "query": "Ana's home?"})
        assert error_of(again, 503)["details"] == {"status": 429, "retry_after": 1}
        assert again.headers["retry-after"] == "1"
        server.reply_body({"error": {"message": "down"}}, status=500, times=3)
        down = client.post("/v1/memories/search", json={**search, "query": "Ana's town?"})
        assert error_of(down, 503) and "retry-after" not in down.headers  # no wait was asked for
