"""mem0 (open-source ``mem0.Memory``, 2.x) as a baseline for memoryd's benchmarks.

This adapter runs mem0 fully offline so that speed and retrieval quality can be
compared with memoryd on the same embedder and the same data:

* raw memories only: every ``add`` uses ``infer=False``, so mem0 stores the text
  verbatim and never asks an LLM to extract facts. mem0 still insists on an LLM
  config; it gets a dummy OpenAI one (fake key, ``http://127.0.0.1:9`` base URL)
  and, after construction, its LLM is replaced by a stub that raises at once, so
  an accidental LLM call fails loudly and never reaches the network;
* vector store: Qdrant in qdrant-client's local (embedded) mode under
  ``workdir/qdrant``; history database: SQLite at ``workdir/history.db``;
* embedder: the caller's ``embed(texts) -> (n, dim) float32`` callable, wrapped in
  a subclass of mem0's ``EmbeddingBase`` that replaces ``Memory.embedding_model``
  after construction (mem0 calls ``embed(text, memory_action)`` one text at a
  time, and ``embed_batch(texts, memory_action)`` in a few places);
* telemetry off: ``MEM0_TELEMETRY=False`` is set before mem0 is imported (mem0
  reads it at import time; the module flags are also forced off in case mem0 was
  imported earlier), and ``MEM0_DIR`` defaults to a temp folder so importing
  mem0 does not write ``~/.mem0/config.json``;
* semantic-only scoring: mem0 2.x's hybrid search wants fastembed's ``Qdrant/bm25``
  model and spaCy's ``en_core_web_sm``, both downloaded at run time (neither can
  be fetched offline). The adapter switches both off up front, so no download is
  attempted and a search score is the plain cosine similarity from Qdrant. The
  spaCy switch is process-wide (mem0 keeps its spaCy model in module globals).

Searches use ``threshold=0.0`` (mem0's default is 0.1) so the baseline returns a
plain top-k like memoryd does; only results with a negative cosine are dropped.

mem0 is an optional dependency (the ``bench`` extra); importing this module
never imports mem0, and constructing :class:`Mem0Baseline` without it raises
``ImportError``.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Mem0Baseline", "mem0_available"]

_INSTALL_HINT = "mem0 baseline needs: pip install 'memoryd[bench]'"
# Discard port on loopback: anything that tries to reach the "LLM" or the
# "OpenAI embedder" fails with connection refused instead of leaving the machine.
_DEAD_URL = "http://127.0.0.1:9/v1"
_DUMMY_KEY = "sk-memoryd-offline-dummy"
_COLLECTION = "mem0"


def _prepare_offline_env() -> None:
    """Set the environment mem0 reads at import time (telemetry off, private home)."""
    os.environ["MEM0_TELEMETRY"] = "False"
    os.environ.setdefault("MEM0_DIR", str(Path(tempfile.gettempdir()) / "memoryd-mem0-home"))


def mem0_available() -> bool:
    """Return True when ``import mem0`` works (sets the offline env vars first)."""
    _prepare_offline_env()
    try:
        importlib.import_module("mem0")
    except ImportError:
        return False
    return True


class _OfflineLLM:
    """Stands in for mem0's LLM: any call is a bug in the baseline, so it raises."""

    def generate_response(self, *args: object, **kwargs: object) -> str:
        raise RuntimeError("mem0 baseline is offline: mem0 tried to call its LLM (infer must stay False)")


def _make_embedder(
    base_cls: type, config: object, embed: Callable[[list[str]], np.ndarray], dim: int
) -> object:
    """Build an instance of a ``mem0.embeddings.base.EmbeddingBase`` subclass over ``embed``."""

    class CallableEmbedder(base_cls):  # type: ignore[misc]
        """mem0 embedder backed by a plain ``embed(texts) -> ndarray`` callable."""

        def __init__(self) -> None:
            super().__init__(config)
            self.config.embedding_dims = dim

        def _encode(self, texts: list[str]) -> np.ndarray:
            vectors = np.asarray(embed(texts), dtype=np.float32)
            if vectors.shape != (len(texts), dim):
                raise ValueError(f"embedder returned shape {vectors.shape}, expected ({len(texts)}, {dim})")
            return vectors

        def embed(self, text: str, memory_action: str | None = None) -> list[float]:
            result: list[float] = self._encode([text])[0].tolist()
            return result

        def embed_batch(self, texts: Sequence[str], memory_action: str = "add") -> list[list[float]]:
            if not texts:
                return []
            result: list[list[float]] = self._encode(list(texts)).tolist()
            return result

    return CallableEmbedder()


class Mem0Baseline:
    """A mem0 ``Memory`` with raw adds, local Qdrant, our embedder and no network."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], dim: int, workdir: Path) -> None:
        _prepare_offline_env()
        try:
            mem0_main: Any = importlib.import_module("mem0.memory.main")
            mem0_telemetry: Any = importlib.import_module("mem0.memory.telemetry")
            spacy_models: Any = importlib.import_module("mem0.utils.spacy_models")
            embeddings_base: Any = importlib.import_module("mem0.embeddings.base")
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc

        # mem0 read MEM0_TELEMETRY when first imported; make sure it is off even
        # if something imported mem0 before us with telemetry on.
        mem0_telemetry.MEM0_TELEMETRY = False
        mem0_main.MEM0_TELEMETRY = False
        # No spaCy: lemmatisation falls back to the raw text and entity
        # extraction to [], instead of trying to download en_core_web_sm.
        spacy_models._load_failed_full = True
        spacy_models._load_failed_lemma = True

        self.dim = dim
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "vector_store": {
                "provider": "qdrant",
                "config": {
                    "collection_name": _COLLECTION,
                    "embedding_model_dims": dim,
                    "path": str(self.workdir / "qdrant"),
                },
            },
            "llm": {
                "provider": "openai",
                "config": {"model": "offline-dummy", "api_key": _DUMMY_KEY, "openai_base_url": _DEAD_URL},
            },
            # Only built to satisfy mem0's constructor; replaced just below.
            "embedder": {
                "provider": "openai",
                "config": {"api_key": _DUMMY_KEY, "openai_base_url": _DEAD_URL, "embedding_dims": dim},
            },
            "history_db_path": str(self.workdir / "history.db"),
        }
        # mem0's own class ``mem0.Memory`` -- not memoryd's record type; keep out of renames.
        memory = mem0_main.Memory.from_config(config)
        memory.embedding_model = _make_embedder(
            embeddings_base.EmbeddingBase, memory.embedding_model.config, embed, dim
        )
        memory.llm = _OfflineLLM()
        # No fastembed BM25 (its model is a hub download): mem0's sentinel for
        # "tried and failed" makes insert skip sparse vectors and keyword_search
        # return None, so scores are pure cosine.
        if hasattr(memory.vector_store, "_bm25_encoder"):
            memory.vector_store._bm25_encoder = False
        self._memory: Any = memory

    def add(self, text: str, *, user_id: str, metadata: dict[str, Any] | None = None) -> str | None:
        """Store ``text`` verbatim (``infer=False``); return mem0's memory id.

        ``metadata`` must be JSON-serialisable; keys ``user_id``/``agent_id``/
        ``run_id`` are dropped by mem0 and ``data``/``hash``/``created_at``/
        ``updated_at``/``role`` clash with mem0's own payload fields.
        """
        result = self._memory.add(text, user_id=user_id, metadata=metadata, infer=False)
        rows = result.get("results") or []
        return str(rows[0]["id"]) if rows else None

    def add_many(self, items: list[tuple[str, dict[str, Any]]], *, user_id: str) -> None:
        """Add ``(text, metadata)`` pairs one by one.

        mem0 has no batch API for raw memories: ``Memory.add`` with a list of
        messages still embeds and inserts them one at a time and shares one
        metadata dict across them, so this simply loops :meth:`add`.
        """
        for text, metadata in items:
            self.add(text, user_id=user_id, metadata=metadata)

    def search(self, query: str, *, user_id: str, limit: int = 10) -> list[tuple[str, float, dict[str, Any]]]:
        """Top ``limit`` memories of ``user_id`` as ``(text, cosine score, metadata)``, best first."""
        result = self._memory.search(query, top_k=limit, filters={"user_id": user_id}, threshold=0.0)
        return [
            (str(row["memory"]), float(row["score"]), dict(row.get("metadata") or {}))
            for row in result.get("results") or []
        ]

    def close(self) -> None:
        """Close mem0's SQLite history and the local Qdrant client (releases its lock)."""
        memory = self._memory
        if memory is None:
            return
        self._memory = None
        memory.close()
        client = getattr(memory.vector_store, "client", None)
        if client is not None:
            client.close()
