"""Embeddings from any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Ollama, vLLM, ...).

Configured by ``embedder.model`` (required), ``embedder.base_url`` (default
OpenAI's), ``embedder.api_key`` (default ``OPENAI_API_KEY``, sent only to
api.openai.com) and ``embedder.dim`` (unset: learnt from one probe call).
Its :attr:`name` is ``openai:<model>``, so a store built with one model is
never searched with another. Texts are sent ``batch_size`` at a time; vectors
come back L2-normalised. Transient failures (connection, 429, 5xx) are
retried twice, honouring ``Retry-After`` up to 10 s. A reply whose vectors cannot
be trusted (another count, duplicate or missing ``index`` fields, NaN, all-zero)
is an error, never stored; ``embedding`` may be a list of numbers or base64
float32 (``encoding_format = "base64"``).
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from memoryd.embedders.base import checked_vectors
from memoryd.errors import BackendUnavailableError, ConfigError
from memoryd.llm.http import retry_after, scrub
from memoryd.redact import has_userinfo, mask_url

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
        api_key = (api_key or "").strip()  # a key read from a file keeps its line break
        if not (api_key.isascii() and api_key.isprintable()):
            # httpx would refuse the header with the key in its message: never echo it
            raise ConfigError(
                "the openai embedder's API key holds a character an HTTP header cannot carry "
                "(a control character or a non-ASCII letter): check embedder.api_key / OPENAI_API_KEY",
                field="embedder.api_key",
            )
        if api_key and has_userinfo(self.base_url):
            raise ConfigError(
                "embedder.base_url holds a user:password@ and an API key is set (embedder.api_key): both "
                "would be the request's Authorization header. Drop the user:password@ from the URL, or "
                "unset embedder.api_key to send the URL's credentials (HTTP Basic auth) alone",
                field="embedder.base_url",
            )
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
        return checked_vectors(np.vstack(parts), len(texts), self.dim, self.name)  # unit rows, or refused

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
        where = f"embedder {self.name} at {mask_url(self.base_url)}"
        for attempt in range(_ATTEMPTS):
            wait = 0.5 * 2**attempt
            try:
                response = self._client.post(f"{self.base_url}/embeddings", json=body, headers=headers)
            except httpx.HTTPError as exc:
                reason = mask_url(scrub(str(exc) or type(exc).__name__, self._key))
                error = BackendUnavailableError(f"{where} unreachable: {reason}")
            else:
                if response.status_code < 400:
                    return self._checked(self._vectors(response, len(batch), where))
                # scrubbed, then cut: a key the cut would split is still found whole
                detail = scrub(response.text[: 600 + len(self._key or "")], self._key)[:300]
                error = BackendUnavailableError(
                    f"{where}: HTTP {response.status_code}: {detail}", status=response.status_code
                )
                if response.status_code != 429 and response.status_code < 500:
                    raise error
                wait = retry_after(response.headers) or wait
            if attempt == _ATTEMPTS - 1 or wait > _MAX_WAIT_S:
                raise error
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _checked(self, vectors: np.ndarray) -> np.ndarray:
        """The endpoint's raw vectors, refused when not of the configured size (the probe, which
        learns the size, takes any). A server answering with another size is a dependency that
        cannot be used (503, as any other bad reply), not a request's fault: the fix named is
        embedder.dim, or the model the server serves."""
        dim = getattr(self, "dim", None)
        if dim is not None and vectors.shape[1] != dim:
            raise BackendUnavailableError(
                f"embedder {self.name} at {mask_url(self.base_url)} returned {vectors.shape[1]}-d vectors, "
                f"expected {dim}: set embedder.dim to the model's size, or serve the model it was",
                field="embedder.dim",
            )
        return vectors

    @staticmethod
    def _vectors(response: httpx.Response, count: int, where: str) -> np.ndarray:
        try:
            data: Any = response.json()["data"]
            if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
                raise TypeError("data is not a list of objects")
            rows = [_embedding(row["embedding"]) for row in data]
            order = [row.get("index") for row in data]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # binascii.Error too
            raise BackendUnavailableError(f"{where}: malformed embeddings reply ({exc})") from exc
        if len(rows) != count:
            raise BackendUnavailableError(f"{where}: expected {count} vectors, got {len(rows)}")
        if any(i is not None for i in order):  # each vector says which input it is
            numbers = all(isinstance(i, int) and not isinstance(i, bool) for i in order)
            if not numbers or sorted(order) != list(range(count)):
                raise BackendUnavailableError(
                    f"{where}: the reply's index fields {order[:20]} are not each of 0..{count - 1} once"
                )
            by_index = dict(zip(order, rows, strict=True))
            rows = [by_index[i] for i in range(count)]
        sizes = sorted({len(row) for row in rows})
        if len(sizes) > 1 or sizes == [0]:
            raise BackendUnavailableError(f"{where}: vectors of sizes {sizes} in one reply")
        return np.vstack(rows)


def _embedding(value: Any) -> np.ndarray:
    """One ``embedding`` field: a list of numbers, or base64 of little-endian float32."""
    if isinstance(value, str):
        raw = base64.b64decode(value, validate=True)
        if len(raw) % 4:
            raise ValueError("base64 embedding is not whole float32 numbers")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not isinstance(value, list):
        raise TypeError(f"embedding is a {type(value).__name__}, not a list of numbers")
    with np.errstate(over="ignore"):  # a number beyond float32 becomes inf, refused later
        vector = np.asarray(value, dtype=np.float32)
    if vector.ndim != 1:
        raise TypeError("embedding is not a flat list of numbers")
    return vector
