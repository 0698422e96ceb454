"""``memoryd reindex`` failing part way (the model goes down after a few batches): the error says
that the store now refuses to open and the command that finishes the reindex, as Ctrl-C's
report does; failing before anything was discarded, it says nothing of the kind. A model that
crashes (a plain exception, as a local model's) is an error line too, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from memoryd.embedders import Embedder
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import BackendUnavailableError
from memoryd.registry import register, unregister
from tests.cli.conftest import Run, as_json, expect_error


class FailingLater:
    """USE under its own name, failing from its ``works``-th call on: down (``crash`` False: the
    error a remote model's client raises) or crashing (a plain exception)."""

    name = "use-multilingual-v3"
    dim = 512
    inner: ClassVar[Embedder | None] = None
    works: ClassVar[int] = 0
    crash: ClassVar[bool] = False
    calls: ClassVar[int] = 0

    def __init__(self, *, threads: int = 2, batch_size: int = 64) -> None:
        assert self.inner is not None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        type(self).calls += 1
        if self.calls > self.works:
            if self.crash:
                raise RuntimeError("out of memory while running the model")
            raise BackendUnavailableError("embedder 'later' is unreachable (connection refused)")
        assert self.inner is not None
        return self.inner.embed(texts)


@pytest.fixture
def later(embedder: USEEmbedder) -> Iterator[type[FailingLater]]:
    FailingLater.inner, FailingLater.calls, FailingLater.crash = embedder, 0, False
    register("embedder", "later", f"{__name__}:FailingLater", description="test: fails after a while")
    try:
        yield FailingLater
    finally:
        unregister("embedder", "later")


def _store(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    lines = (json.dumps({"role": "user", "content": f"note {i} on the garden, bed {i % 7}"}) for i in range(12))
    path.write_text("\n".join(lines) + "\n")
    added = run("add", "-f", str(path), "-u", "ana")
    assert added.exit_code == 0, added.stderr


LATER = {"MEMORYD_EMBEDDER__PROVIDER": "later"}


@pytest.mark.parametrize("crash", [False, True])
def test_a_reindex_failing_part_way_says_the_store_refuses_to_open_and_how_to_finish(
    run: Run, tmp_path: Path, later: type[FailingLater], crash: bool
) -> None:
    _store(run, tmp_path)
    later.works, later.crash = 3, crash  # the model's check, then two batches of 4
    failed = run("reindex", "--batch-size", "4", env=LATER)
    expect_error(failed, 1, "refuses to open until a reindex finishes", "memoryd reindex --batch-size 4")
    assert "Traceback" not in failed.stderr
    refused = run("search", "garden", "-u", "ana", env=LATER)
    expect_error(refused, 1, "incomplete")
    later.works = 10**6
    assert run("reindex", env=LATER).exit_code == 0
    assert as_json(run("check", "--json", env=LATER))["ok"]


def test_a_reindex_failing_before_it_discards_anything_says_the_store_is_as_it_was(
    run: Run, tmp_path: Path, later: type[FailingLater]
) -> None:
    _store(run, tmp_path)
    later.works = 0  # the model's check fails: nothing was changed
    failed = run("reindex", "--json", env=LATER)
    assert failed.exit_code == 1
    error = as_json(failed)["error"]
    assert "unreachable" in error["message"] and "refuses to open" not in error["message"]
    later.works = 10**6
    assert run("search", "garden", "-u", "ana", env=LATER).exit_code == 0
