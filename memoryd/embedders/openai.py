"""Embeddings from any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Ollama, vLLM, ...).

Configured by ``embedder.model`` (required), ``embedder.base_url`` (default
OpenAI's), ``embedder.api_key``, ``embedder.dim`` (unset or 0: learnt from one probe call) and
``embedder.timeout_s`` (an answer's wait, 60 s; a search's one query waits as long).
``base_url`` is read as the LLM layer reads ``llm.base_url`` (:mod:`memoryd.llm.build`): a known
vendor's server address alone (``http://localhost:11434``) gets its API path (``/v1``), a trailing
slash or a whole ``.../embeddings`` URL is fine, and an Azure OpenAI resource (its endpoint, with
or without ``/openai``, or a deployment's whole URL) is called at its deployment's route with its
``api-key`` header, ``embedder.model`` being the deployment. Without ``api_key``, a vendor's key
variable (``OPENAI_API_KEY``, ``AZURE_OPENAI_API_KEY``, ...) is sent only to that vendor's own
servers. Its :attr:`name` is ``openai:<model>``, so a store built with one model is
never searched with another. Texts are sent ``batch_size`` at a time; a batch refused as too big
(a 413, or a 400 saying so: over a provider's inputs per request, DashScope's 10) is split in
halves, and a size that then worked is kept for the next batches. Vectors come back L2-normalised. Transient
failures (connection, 429, 5xx, no answer in ``timeout_s``) are retried twice, honouring
``Retry-After`` up to 10 s; a connection is given 5 s. A reply
whose vectors cannot be trusted (another count, duplicate or missing ``index`` fields, NaN,
all-zero) is an error naming the reply's HTTP status, content type and first words (a web page by
its title, as :mod:`memoryd.llm.http` names one; an error page too), never stored
(the server is up: doctor does not ask whether it runs); a server silent past ``timeout_s`` is
named so, with the wait and the tries; ``embedding`` may be a list of numbers or base64
float32 (``encoding_format = "base64"``).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from pydantic import SecretStr

from memoryd.config import LLMConfig
from memoryd.embedders.base import checked_vectors
from memoryd.errors import BackendUnavailableError, ConfigError
from memoryd.llm.build import make_target, vendors_own
from memoryd.llm.http import excerpt, media_type, retry_after, scrub, web_page
from memoryd.llm.openai_client import auth_headers, endpoint
from memoryd.llm.providers import VENDORS, Vendor, vendor
from memoryd.llm.types import Target
from memoryd.redact import mask_url

if TYPE_CHECKING:
    from memoryd.config import EmbedderConfig

__all__ = ["DEFAULT_BASE_URL", "OpenAIEmbedder"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_ATTEMPTS = 3
_MAX_WAIT_S = 10.0
# A server that takes no connection (a host that drops packets, a port behind a firewall) is named
# after this, not after the minute a long batch may take to answer (OpenAI's SDK waits 5 s too).
_CONNECT_S = 5.0
_DIMS: dict[tuple[str, str], int] = {}  # probed dimensions, per (base_url, model)
_DIMS_LOCK = threading.Lock()
# Azure OpenAI's hosts (a resource, an AI Services or AI Foundry one): AZURE_OPENAI_API_KEY goes there.
_AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
# A 400 that blames the request's size, not one input (DashScope: "batch size is invalid, it should
# not be larger than 10"; Azure: "Too many inputs. The max number of inputs is 16"; OpenAI: "'$.input'
# is invalid", "max 300000 tokens per request"): the batch is split in halves. So is any 413.
_BATCH_TOO_BIG = re.compile(
    r"batch|too many|per request|\$\.input\b|max(imum)? (number of )?(inputs|texts|items|requests)"
    r"|(at most|less than|fewer than|no more than|up to) \d+ (inputs|texts|items|requests|strings|elements)"
    r"|(不得|不能|不可)超过\s*\d+\s*条|最多\s*\d+\s*条",
    re.IGNORECASE,
)


def _target(model: str, base_url: str, api_key: str | None, env: Mapping[str, str] | None) -> Target:
    """``base_url`` as the LLM layer reads it for the vendor it belongs to: an Azure OpenAI resource
    (by its host, or a deployment's path), a known OpenAI-compatible vendor's own server (by scheme,
    host and port: Ollama's ``http://localhost:11434``), else any OpenAI-compatible server (a server's
    address alone gets ``/v1``). The vendor's key variable is read only for its own servers."""
    url = base_url.strip()
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    azure_host = host.endswith(_AZURE_HOSTS)
    record: Vendor
    if azure_host or "/openai/deployments/" in parts.path:
        record = vendor("azure")
        if not azure_host:
            env = {}  # a gateway in front of Azure: AZURE_OPENAI_API_KEY is Azure's alone
    else:
        own = (r for r in VENDORS.values() if r.wire == "openai" and r.base_url and vendors_own(r, url))
        record = next(own, vendor("openai"))
    return make_target(
        LLMConfig(),
        provider=record.name,
        model=model,
        base_url=url,
        api_key=SecretStr(api_key) if api_key else None,
        env=env,
        where="embedder",
    )


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
        target = _target(
            model, (base_url or "").strip() or DEFAULT_BASE_URL, (api_key or "").strip() or None, env
        )
        record = vendor(target.provider)
        self.model = target.model
        self.base_url = target.base_url
        self._azure = record.auth == "api-key"
        self._record = record
        api_key = (target.api_key or "").strip()  # a key read from a file keeps its line break
        if not (api_key.isascii() and api_key.isprintable()):
            # httpx would refuse the header with the key in its message: never echo it
            raise ConfigError(
                "the openai embedder's API key holds a character an HTTP header cannot carry "
                "(a control character or a non-ASCII letter): check embedder.api_key / OPENAI_API_KEY",
                field="embedder.api_key",
            )
        self._key = api_key or None
        self._target = replace(target, api_key=self._key)
        self._headers = auth_headers(self._target, record)
        self._batch = batch_size
        self._timeout, self._connect = timeout_s, min(_CONNECT_S, timeout_s)
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=self._connect), headers={"user-agent": "memoryd"}
        )
        self.name = self.model_name(self.model)
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
            timeout_s=config.timeout_s,
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
        parts, start = [], 0
        while start < len(texts):
            size = self._batch  # may shrink while embedding (a provider's limit, learnt)
            parts.append(self._split(list(texts[start : start + size])))
            start += size
        return checked_vectors(np.vstack(parts), len(texts), self.dim, self.name)  # unit rows, or refused

    def _split(self, batch: list[str]) -> np.ndarray:
        """``_post(batch)``; a batch of several texts refused as too big (a 413, or a 400 saying so:
        a provider's limit on inputs or tokens per request) is sent again as two halves, and when
        both worked, the larger half is the batch size from then on. A 400 blaming one input (over
        the model's context) is raised as it is."""
        try:
            return self._post(batch)
        except BackendUnavailableError as exc:
            status = exc.details.get("status")
            said = exc.message.partition(f"HTTP {status}: ")[2]  # the server's words, not the URL's
            if said.isascii() and "\\u" in said:  # JSON's escapes: "\u4e0d\u5f97..." is 不得...
                said += " " + said.encode().decode("unicode_escape", "replace")
            if len(batch) < 2 or not (status == 413 or (status == 400 and _BATCH_TOO_BIG.search(said))):
                raise
        half = len(batch) // 2
        vectors = np.vstack([self._split(batch[:half]), self._split(batch[half:])])
        self._batch = min(self._batch, len(batch) - half)
        return vectors

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
        body: dict[str, Any] = {"input": [t if t.strip() else " " for t in batch]}
        if not self._azure:  # Azure names the model (its deployment) in the URL
            body["model"] = self.model
        # Azure's deployment route and api-version; a base_url naming /embeddings itself as it is
        url, params = endpoint(self._target, self._record, "/embeddings")
        where = f"embedder {self.name} at {mask_url(self.base_url)}"
        for attempt in range(_ATTEMPTS):
            wait = 0.5 * 2**attempt
            try:
                response = self._client.post(url, json=body, headers=self._headers, params=params)
            except httpx.ConnectTimeout:  # no words of its own: "timed out", said of any step
                error = BackendUnavailableError(
                    f"{where} unreachable: no connection within {self._connect:g} s "
                    f"({attempt + 1} of {_ATTEMPTS} tries)"
                )
            except httpx.TimeoutException:
                error = BackendUnavailableError(
                    f"{where} did not answer within {self._timeout:g} s ({attempt + 1} of {_ATTEMPTS} tries)"
                )
            except httpx.HTTPError as exc:
                reason = mask_url(scrub(str(exc) or type(exc).__name__, self._key))
                error = BackendUnavailableError(f"{where} unreachable: {reason}")
            else:
                if response.status_code < 400:
                    return self._usable(response, len(batch), where)
                # a proxy's error page by its title; else scrubbed, then cut (a key the cut would
                # split is still found whole)
                detail = web_page(response.headers, response.text, self._key)
                detail = detail or scrub(response.text[: 600 + len(self._key or "")], self._key)[:300]
                error = BackendUnavailableError(
                    f"{where}: HTTP {response.status_code}: {detail}", status=response.status_code
                )
                if response.status_code != 429 and response.status_code < 500:
                    raise error
                asked = retry_after(response.headers)
                wait = asked or wait
                if asked:  # the REST caller's 503 says it as Retry-After, when this is the last try
                    error.details["retry_after"] = asked
                if wait > _MAX_WAIT_S:  # said, with the wait: a caller knows when to try again
                    error.add_to_message(
                        f"the server asks to wait {wait:g} s, longer than memoryd waits ({_MAX_WAIT_S:g} s)"
                    )
            if attempt == _ATTEMPTS - 1 or wait > _MAX_WAIT_S:
                raise error
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _usable(self, response: httpx.Response, count: int, where: str) -> np.ndarray:
        """The vectors of a reply that came back, of the configured size, finite and not all-zero;
        else the error, naming the HTTP status it came with: the server is up and answered, it is
        its answer that cannot be used (``memoryd doctor`` does not ask whether it is running)."""
        try:
            vectors = self._checked(self._vectors(response, count, where))
            return checked_vectors(vectors, count, vectors.shape[1], self.name)
        except BackendUnavailableError as exc:
            exc.details.setdefault("status", response.status_code)
            raise

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

    def _body(self, response: httpx.Response) -> str:
        """What a reply held, one line, no key: a web page by its title (a login or proxy page, as
        :mod:`memoryd.llm.http` names one), else its content type and first words."""
        text = response.text
        page = web_page(response.headers, text, self._key)
        if page is not None:
            return page
        said = excerpt(text[: 600 + len(self._key or "")], self._key)  # scrubbed whole, then cut
        return f"{media_type(response.headers) or 'no content-type'}: {said or '(empty)'}"

    def _vectors(self, response: httpx.Response, count: int, where: str) -> np.ndarray:
        try:
            data: Any = response.json()["data"]
            if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
                raise TypeError("data is not a list of objects")
            rows = [_embedding(row["embedding"]) for row in data]
            order = [row.get("index") for row in data]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # binascii.Error too
            why = f"no {exc} field" if isinstance(exc, KeyError) else str(exc)
            said = self._body(response)
            raise BackendUnavailableError(f"{where}: malformed embeddings reply ({why}; {said})") from exc
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


_JSON_KINDS = {type(None): "null", bool: "true/false", str: "strings", list: "lists", dict: "objects"}


def _embedding(value: Any) -> np.ndarray:
    """One ``embedding`` field: a list of numbers, or base64 of little-endian float32."""
    if isinstance(value, str):
        raw = base64.b64decode(value, validate=True)
        if len(raw) % 4:
            raise ValueError("base64 embedding is not whole float32 numbers")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not isinstance(value, list):
        raise TypeError(f"embedding is a {type(value).__name__}, not a list of numbers")
    kinds = set(map(type, value))  # true/false or "0.5" would be read as numbers, None as NaN
    if not kinds <= {int, float}:
        odd = sorted(_JSON_KINDS.get(k, k.__name__) for k in kinds - {int, float})
        raise TypeError(f"embedding holds {', '.join(odd)}, not only numbers")
    with np.errstate(over="ignore"):  # a number beyond float32 becomes inf, refused later
        vector = np.asarray(value, dtype=np.float32)
    if vector.ndim != 1:
        raise TypeError("embedding is not a flat list of numbers")
    return vector
