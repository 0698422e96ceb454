"""The ``openai`` embedder's settings as users write them, against a tiny ``/v1/embeddings`` server
of this test's own: ``embedder.dim = 0`` (ask the endpoint) from every source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memoryd import load_settings
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.errors import ConfigError
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
