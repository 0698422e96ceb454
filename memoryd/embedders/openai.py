"""Embeddings from any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Ollama, vLLM, ...).

Configured by ``embedder.model`` (required), ``embedder.base_url`` (default
OpenAI's), ``embedder.api_key`` (default ``OPENAI_API_KEY``, sent only to
api.openai.com) and ``embedder.dim`` (unset: learnt from one probe call).
Its :attr:`name` is ``openai:<model>``, so a store built with one model is
never searched with another. Texts are sent ``batch_size`` at a time; vectors
come back L2-normalised. Transient failures (connection, 429, 5xx) are
retried twice, honouring ``Retry-After`` up to 10 s.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from memoryd.embedders.base import normalise
from memoryd.errors import BackendUnavailableError, ConfigError
from memoryd.llm.http import retry_after, scrub

if TYPE_CHECKING:
    from memoryd.config import EmbedderConfig

__all__ = ["DEFAULT_BASE_URL", "OpenAIEmbedder"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_ATTEMPTS = 3
_MAX_WAIT_S = 10.0
_DIMS: dict[tuple[str, str], int] = {}  # probed dimensions, per (base_url, model)
_DIMS_LOCK = threading.Lock()


class OpenAIEmbedder:
    """An :class:`~memoryd.embedders.Embedder` over HTTP."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        dim: int | None = None,
        batch_size: int = 64,
        timeout_s: float = 60.0,
        threads: int = 1,  # accepted for the common factory signature; the work is remote
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not model:
            raise ConfigError("the openai embedder needs embedder.model", field="embedder.model")
        self.model = model
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        if not api_key and self.base_url == DEFAULT_BASE_URL:
            api_key = (os.environ if env is None else env).get("OPENAI_API_KEY")
        self._key = api_key or None
        self._batch = batch_size
        self._client = httpx.Client(timeout=timeout_s, headers={"user-agent": "memoryd"})
        self.name = self.model_name(model)
        self.dim = dim or self._probe()

    @staticmethod
    def model_name(model: str) -> str:
        return f"openai:{model}"

    @classmethod
    def from_config(cls, config: EmbedderConfig) -> OpenAIEmbedder:
        key = config.api_key.get_secret_value() if config.api_key is not None else None
        if not config.model:
            raise ConfigError("embedder.provider = 'openai' needs embedder.model", field="embedder.model")
        return cls(
            model=config.model,
            base_url=config.base_url,
            api_key=key,
            dim=config.dim,
            batch_size=config.batch_size,
        )

    @classmethod
    def identity(cls, config: EmbedderConfig) -> tuple[str, int]:
        """``(name, dim)`` before loading: from the config, or one probe call (cached)."""
        if not config.model:
            raise ConfigError("embedder.provider = 'openai' needs embedder.model", field="embedder.model")
        if config.dim:
            return cls.model_name(config.model), config.dim
        embedder = cls.from_config(config)
        try:
            return embedder.name, embedder.dim
        finally:
            embedder.close()

    def close(self) -> None:
        self._client.close()

    def __del__(self) -> None:  # a safety net: AsyncMemory closes the embedders it makes
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()

    # -- embedding -----------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._post(list(texts[i : i + self._batch])) for i in range(0, len(texts), self._batch)]
        vectors = np.vstack(parts)
        if vectors.shape[1] != self.dim:
            raise ConfigError(
                f"embedder {self.name} returned {vectors.shape[1]}-d vectors, expected {self.dim} "
                "(check embedder.dim)",
                field="embedder.dim",
            )
        return normalise(vectors)

    def _probe(self) -> int:
        key = (self.base_url, self.model)
        with _DIMS_LOCK:
            known = _DIMS.get(key)
        if known is None:
            known = int(self._post(["dimension probe"]).shape[1])
            with _DIMS_LOCK:
                _DIMS[key] = known
        return known

    def _post(self, batch: list[str]) -> np.ndarray:
        body = {"model": self.model, "input": [t if t.strip() else " " for t in batch]}
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        where = f"embedder {self.name} at {self.base_url}"
        for attempt in range(_ATTEMPTS):
            wait = 0.5 * 2**attempt
            try:
                response = self._client.post(f"{self.base_url}/embeddings", json=body, headers=headers)
            except httpx.HTTPError as exc:
                reason = scrub(str(exc) or type(exc).__name__, self._key)
                error = BackendUnavailableError(f"{where} unreachable: {reason}")
            else:
                if response.status_code < 400:
                    return self._vectors(response, len(batch), where)
                detail = scrub(response.text[:300], self._key)
                error = BackendUnavailableError(f"{where}: HTTP {response.status_code}: {detail}")
                if response.status_code != 429 and response.status_code < 500:
                    raise error
                wait = retry_after(response.headers) or wait
            if attempt == _ATTEMPTS - 1 or wait > _MAX_WAIT_S:
                raise error
            time.sleep(wait)
        raise AssertionError("unreachable")

    @staticmethod
    def _vectors(response: httpx.Response, count: int, where: str) -> np.ndarray:
        try:
            data: Any = response.json()["data"]
            rows = sorted(data, key=lambda d: d.get("index", 0))
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackendUnavailableError(f"{where}: malformed embeddings reply ({exc})") from exc
        if vectors.ndim != 2 or len(vectors) != count:
            raise BackendUnavailableError(f"{where}: expected {count} vectors, got shape {vectors.shape}")
        return vectors
