"""Fault fixtures: test embedders registered in the registry for the test's duration, the CLI in process."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from memoryd.cli import app
from memoryd.cli import output as cli_output
from memoryd.embedders.use import USEEmbedder
from memoryd.registry import register, unregister
from tests.faults.embedders import FlakyEmbedder, HalfEmbedder


@pytest.fixture
def flaky(embedder: USEEmbedder) -> Iterator[type[FlakyEmbedder]]:
    """``embedder.provider = "flaky"``: USE that fails while ``FlakyEmbedder.failing`` is set."""
    FlakyEmbedder.inner, FlakyEmbedder.failing, FlakyEmbedder.calls = embedder, False, 0
    register("embedder", "flaky", "tests.faults.embedders:FlakyEmbedder", description="test: fails on demand")
    try:
        yield FlakyEmbedder
    finally:
        unregister("embedder", "flaky")
        FlakyEmbedder.failing = False


@pytest.fixture
def half(embedder: USEEmbedder) -> Iterator[type[HalfEmbedder]]:
    """``embedder.provider = "half"``: another model (256 dimensions)."""
    HalfEmbedder.inner = embedder
    register("embedder", "half", "tests.faults.embedders:HalfEmbedder", description="test: another model")
    try:
        yield HalfEmbedder
    finally:
        unregister("embedder", "half")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, embedder: USEEmbedder) -> Callable[..., Result]:
    """``cli(store_path, "export", ...)``: the memoryd CLI in process, on the store at ``store_path``
    (no MEMORYD_* from the shell), reusing the session's embedder."""
    for name in list(os.environ):
        if name.startswith("MEMORYD_"):
            monkeypatch.delenv(name)
    monkeypatch.setitem(cli_output._EMBEDDERS, ("use", 2, 64), embedder)

    def invoke(store: Path, *args: str) -> Result:
        return CliRunner().invoke(app, list(args), env={"MEMORYD_STORAGE__PATH": str(store)})

    return invoke
