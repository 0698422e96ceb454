"""The ``openai`` embedder's settings as users write them, against a tiny ``/v1/embeddings`` server
of this test's own: ``embedder.dim = 0`` (ask the endpoint) from every source, and ``embedder.timeout_s``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memoryd import load_settings
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.errors import BackendUnavailableError, ConfigError
from tests.embedders.loopback import EmbeddingsServer, serving


@pytest.fixture
def server() -> Iterator[EmbeddingsServer]:
    with serving() as srv:
        yield srv


def _section(server: EmbeddingsServer) -> dict[str, Any]:
    return {"provider": "openai", "model": "m", "base_url": server.base_url}


@pytest.mark.parametrize("source", ["env", "env-spaced", "toml", "override-int", "override-text"])
def test_dim_0_asks_the_endpoint_from_every_source(
    server: EmbeddingsServer, tmp_path: Path, source: str
) -> None:
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
    assert embedder.dim == server.dim and server.requests[0]["input"] == ["dimension probe"]
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


def test_timeout_s_is_how_long_each_try_waits_for_an_answer(server: EmbeddingsServer) -> None:
    """There was no embedder.timeout_s: a server that took the connection and never answered held a
    batch, or a search's one query, 3 x 60 s (and the backoff)."""
    env = {"MEMORYD_EMBEDDER__TIMEOUT_S": "0.5"}
    settings = load_settings(env=env, overrides={"embedder": {**_section(server), "dim": 4}})
    embedder = OpenAIEmbedder.from_config(settings.embedder)
    server.then("hang", times=3)
    with pytest.raises(BackendUnavailableError) as info:
        embedder.embed(["where does Ana live?"])
    assert "did not answer within 0.5 s (3 of 3 tries)" in info.value.message
    assert len(server.requests) == 3
    embedder.close()
