"""A `memoryd reindex` onto another model of the same size, run while a server has a store open
whose vector index is in another engine (a PostgreSQL table, a Milvus collection: engines that
two handles may share at once). The embedded index refuses the server's next write (see
tests/faults/test_reindex_meanwhile.py); the outside indexes wrote its vector, of the old model,
among the new model's, without a word: searches under either model then rank it by a cosine
between two models' vectors. Such a write is now refused with a 503 naming the model the index
was moved to, and nothing of it is kept; the process's health and its searches say so too."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from memoryd.config import Settings, load_settings
from memoryd.errors import StorageError
from memoryd.maintenance.reindex import reindex_store
from tests.storage.helpers import DIM, adds, opened, record, unit
from tests.storage.postgres_server import postgres_url, table_for


class AnotherModel:
    """A real (if useless) embedder of the conformance stores' size under another name."""

    name = "another-model"
    dim = DIM

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full((len(texts), self.dim), 1e-3, dtype=np.float32)
        for i, text in enumerate(texts):
            for j, ch in enumerate(text):
                out[i, j % self.dim] += ord(ch) % 17
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _settings(engine: str, tmp: Path) -> Settings:
    section = (
        {"url": postgres_url(), "table": table_for(tmp)}
        if engine == "postgres"
        else {"path": str(tmp / "mv.db")}
    )
    return load_settings(
        env={}, overrides={"storage": {"path": str(tmp / "m.db"), "vectors": engine, engine: section}}
    )


@pytest.mark.parametrize("engine", ["postgres", "milvus"])
async def test_a_write_after_a_reindex_onto_another_model_is_refused(engine: str, tmp_path: Path) -> None:
    if engine == "milvus":
        pytest.importorskip(
            "milvus_lite", reason="Milvus Lite is not installed (pip install 'memoryd[milvus]')"
        )
    settings = _settings(engine, tmp_path)
    before, late = record("the blue notebook is on the shelf"), record("the red pen is in the drawer")
    async with opened(settings) as server:  # opened with the test model, as a running server
        await server.commit(adds((before, unit(1))))
        await reindex_store(settings, embedder=AnotherModel())  # by someone else, meanwhile

        with pytest.raises(
            StorageError, match="was moved to embedder 'another-model' \\(8 dimensions\\)"
        ) as err:
            await server.commit(adds((late, unit(0, 1))))
        assert err.value.status_code == 503 and err.value.field == "embedder"
        assert await server.records.get_many([late.id]) == {}
        assert await server.vectors.vectors([late.id]) == {}  # no vector of the old model among the new's
        with pytest.raises(StorageError, match="was moved to embedder 'another-model'"):
            await server.check_vectors()  # what /health asks: the process must be restarted
        # and its searches, which embed queries with the old model, say so too
        with pytest.raises(StorageError, match="was moved to embedder 'another-model'.*Nothing was searched"):
            await server.vectors.search(unit(1), scope=before.scope, limit=5)
