"""A check that raised something unexpected (a bug, a library raising what memoryd does not
anticipate) ended ``memoryd doctor`` with a traceback and no report at all. Each check now runs
guarded: the exception becomes that check's ``fail`` naming it, the other checks still run and
are reported, the exit code is 1, and ``--json`` stays one document."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from memoryd.registry import register, unregister
from tests.cli.conftest import Run, as_json

PROVIDER = "doctor-broken-dim"


class BrokenDimEmbedder:
    """Embeds fine, but asking its size raises an error no check anticipates."""

    name = "broken-dim-test-embedder"

    def __init__(self, **_: Any) -> None:
        pass

    @property
    def dim(self) -> int:
        raise RuntimeError("the model forgot its size")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.ones((len(texts), 8), dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def broken_embedder() -> Iterator[dict[str, str]]:
    register("embedder", PROVIDER, f"{__name__}:BrokenDimEmbedder")
    try:
        yield {"MEMORYD_EMBEDDER__PROVIDER": PROVIDER}
    finally:
        unregister("embedder", PROVIDER)


def test_a_check_that_raises_is_reported_as_failed_and_the_others_still_run(
    run: Run, broken_embedder: dict[str, str]
) -> None:
    result = run("doctor", "--json", env=broken_embedder)
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # typer.Exit(1), not a crash
    assert "Traceback" not in result.stdout + result.stderr
    doc = as_json(result)
    checks = {c["name"]: c for c in doc["checks"]}
    embedder = checks["embedder"]
    assert embedder["status"] == "fail"
    assert "RuntimeError" in embedder["detail"] and "the model forgot its size" in embedder["detail"]
    assert embedder["fix"]
    # Every check after the one that raised was still made and reported.
    others = {"python", "config", "sqlite", "backends", "store", "llm", "pipeline", "jieba", "places", "port"}
    assert others <= set(checks)
    assert any(name.startswith("extra:") for name in checks)
    assert checks["store"]["status"] == "warn"  # not opened: its embedder's check failed
    assert checks["jieba"]["status"] == "ok" and checks["port"]["status"] == "ok"
    assert doc["ok"] is False and doc["summary"]["fail"] >= 1

    human = run("doctor", env=broken_embedder)
    assert human.exit_code == 1, (human.stdout, human.stderr, human.exception)
    assert "Traceback" not in human.stdout + human.stderr
    assert "RuntimeError" in human.stdout and "problems found" in human.stdout
