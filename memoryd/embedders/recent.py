"""Recently computed embeddings, by exact text: a text is embedded once while it is recent.

A chat turn's text is embedded several times within seconds by design: the
gateway embeds the user's message to find memories for it, then stores it;
the next turn of a session re-reads the previous one as its context. The
model is deterministic, so the vector of a text it saw a moment ago is taken
from here instead. Bounded (least recently used out), thread-safe; vectors are
stored read-only and callers never write into them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

__all__ = ["RecentEmbeddings"]


class RecentEmbeddings:
    """The vectors of the ``size`` most recently embedded texts."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors held for any of ``texts``."""
        found: dict[str, np.ndarray] = {}
        if self.size <= 0:
            return found
        with self._lock:
            for text in texts:
                vector = self._items.get(text)
                if vector is not None:
                    self._items.move_to_end(text)
                    found[text] = vector
        return found

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        if self.size <= 0:
            return
        vectors = np.array(vectors, dtype=np.float32)  # a private copy, then read-only rows
        vectors.flags.writeable = False
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._items[text] = vector
                self._items.move_to_end(text)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
