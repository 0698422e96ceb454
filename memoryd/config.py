"""Configuration: one frozen object, built once from a TOML file and ``MEMORYD_*``.

Precedence, lowest first: built-in defaults, the TOML file (``--config PATH``,
or ``MEMORYD_CONFIG``), then environment variables. A nested key is spelled
with a double underscore in the environment: ``storage.path`` is
``MEMORYD_STORAGE__PATH``; a single underscore after a section name works too
(``MEMORYD_LLM_MODEL`` is ``llm.model``; the double-underscore spelling wins if
both are set). Unknown or misspelled keys are errors that name the key and the
allowed ones. Nothing here runs at import time.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from memoryd import config_sources as sources
from memoryd.config_sources import CONFIG_ENV, none_if_unset, optional_path
from memoryd.errors import ConfigError
from memoryd.redact import mask, masked, secret_urls
from memoryd.tenant_folders import tenant_folder

__all__ = [
    "DEFAULT_TENANT",
    "TENANT_HEADER",
    "AuthConfig",
    "ContextConfig",
    "EmbedderConfig",
    "FalkorDBConfig",
    "FineConfig",
    "GatewayConfig",
    "IndexConfig",
    "LLMConfig",
    "LLMTargetConfig",
    "LimitsConfig",
    "PipelineConfig",
    "RuntimeConfig",
    "SearchConfig",
    "ServerConfig",
    "Settings",
    "StorageConfig",
    "TiersConfig",
    "env_key",
    "load_settings",
]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "memoryd"


DEFAULT_TENANT = "default"
TENANT_HEADER = "x-memoryd-tenant"  # how an admin key names the tenant of a request (HTTP)


class _Section(BaseModel):
    # A limit, weight or timeout is a finite number: TOML and the environment can spell inf and nan.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _choices_in_any_case(cls, data: Any) -> Any:
        """A setting with fixed choices takes them in any case (``MEMORYD_SERVER__LOG_LEVEL=INFO``,
        ``synchronous = "normal"``), as the environment and other tools spell them."""
        if not isinstance(data, Mapping):
            return data
        fixed = dict(data)
        for name, info in cls.model_fields.items():
            value = fixed.get(name)
            if isinstance(value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
                # bytes that were not UTF-8 (an environment variable): no text any engine could send
                raise ValueError(f"{name} is not valid UTF-8 text")
            if isinstance(value, str) and get_origin(info.annotation) is Literal:
                wanted = value.strip().casefold()
                fixed[name] = next(
                    (c for c in get_args(info.annotation) if isinstance(c, str) and c.casefold() == wanted),
                    value,
                )
        return fixed

    @field_validator("*", mode="before")
    @classmethod
    def _no_switch_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """true and false are no number: pydantic read them as 1 and 0 (``port = true``: port 1)."""
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and sources.is_number(field.annotation):
            raise ValueError(f"must be a number, not {str(value).lower()}")
        return value


class QdrantConfig(_Section):
    """The ``qdrant`` vector index (``storage.vectors = "qdrant"``, extra ``memoryd[qdrant]``):
    a Qdrant server at ``url``, else Qdrant's local mode in a folder (one process at a time)."""

    url: str | None = Field(
        None, description="Qdrant server URL (http://host:6333); unset: local mode in `path`."
    )
    path: Path | None = Field(
        None, description="Local mode's folder (unset: `<storage.path>.qdrant` beside the SQLite file)."
    )
    api_key: SecretStr | None = Field(None, description="Qdrant server API key.")
    collection: str = Field(
        "memoryd",
        min_length=1,
        max_length=100,  # a tenant's name (up to 64) is added: Qdrant takes 255
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Collection name (a tenant's store adds `-<tenant>`).",
    )
    timeout: float = Field(10.0, gt=0, le=600, description="Seconds a Qdrant server call may take.")

    _unset = field_validator("url", "api_key", mode="before")(none_if_unset)

    _path = field_validator("path", mode="before")(optional_path)


class MilvusConfig(_Section):
    """The ``milvus`` vector index (``storage.vectors = "milvus"``, extra ``memoryd[milvus]``):
    a Milvus server at ``uri``, else Milvus Lite in a file (one process at a time)."""

    uri: str | None = Field(
        None, description="Milvus server URI (http://host:19530); unset: Milvus Lite in `path`."
    )
    path: Path | None = Field(
        None, description="Milvus Lite's file, ending in .db (unset: `<storage.path>.milvus.db`)."
    )
    token: SecretStr | None = Field(None, description="Milvus server token (user:password, or an API key).")
    collection: str = Field(
        "memoryd",
        min_length=1,
        max_length=100,  # a tenant's escaped name (up to 128) is added: Milvus takes 255
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Collection name (a tenant's store adds `_t_<tenant>`).",
    )
    timeout: float = Field(10.0, gt=0, le=600, description="Seconds a Milvus server call may take.")

    _unset = field_validator("uri", "token", mode="before")(none_if_unset)

    _path = field_validator("path", mode="before")(optional_path)

    @field_validator("path")
    @classmethod
    def _db_file(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix != ".db":
            raise ValueError("Milvus Lite's file name must end in .db")
        return value


class PostgresConfig(_Section):
    """The ``postgres`` vector index (``storage.vectors = "postgres"``, extra ``memoryd[postgres]``):
    a table with a pgvector column in a PostgreSQL server."""

    url: SecretStr | None = Field(
        None, description="PostgreSQL URL (postgresql://user:password@host:5432/db); required for it."
    )
    table: str = Field(
        "memoryd_vectors",
        min_length=1,
        max_length=40,
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="Table name (a tenant's store adds `_t_<tenant>`); memoryd_vector_meta keeps models.",
    )
    pool_size: int = Field(8, ge=1, le=256, description="Connections memoryd keeps open to the server.")
    timeout: float = Field(10.0, gt=0, le=600, description="Seconds to connect, and for a statement.")

    _unset = field_validator("url", mode="before")(none_if_unset)


class FalkorDBConfig(_Section):
    """The ``falkordb`` graph store (``storage.graph = "falkordb"``, extra ``memoryd[falkordb]``):
    entities and relations in a graph of a FalkorDB server; the rest of the store stays in SQLite."""

    url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379"),
        description="FalkorDB server URL (redis://[:password@]host:port; rediss:// for TLS).",
    )
    graph: str = Field(
        "memoryd",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Graph name: one per store (a tenant's store adds `-<tenant>`).",
    )
    timeout: float = Field(10.0, gt=0, le=600, description="Seconds a FalkorDB call may take.")
    recreate: bool = Field(
        False,
        description="Open even when the graph this store made is gone (wiped, or `graph` names another): "
        "a new, empty one is made and the relations the old one held are lost.",
    )


class StorageConfig(_Section):
    """Where memories live. ``sqlite`` is the embedded default for every role."""

    path: Path = Field(
        default_factory=lambda: default_data_dir() / "memoryd.db",
        description="SQLite database file (created when missing).",
    )
    records: str = Field("sqlite", description="Record store backend.")
    vectors: str = Field("sqlite", description="Vector index backend.")
    keywords: str = Field("sqlite", description="Keyword (BM25) index backend.")
    graph: str = Field("sqlite", description="Graph store backend (entities and relations).")
    segments: str = Field("sqlite", description="Segment store backend (memory tiers, segments and heat).")
    read_threads: int = Field(4, ge=1, le=64, description="Reader threads for SQLite.")
    synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="SQLite fsync policy: FULL survives power loss, NORMAL only crashes."
    )
    vector_cache_mb: int = Field(2048, ge=16, description="Memory (RAM) for loaded index partitions, in MiB.")
    record_cache: int = Field(
        20_000, ge=0, description="Memories kept in RAM for search results (0 turns the cache off)."
    )
    exact_search_max: int = Field(
        4096,
        ge=0,
        description="Partitions up to this many vectors are searched exactly; larger ones shortlist "
        "candidates on a low-dimensional projection, then score them exactly.",
    )
    qdrant: QdrantConfig = Field(default_factory=lambda: QdrantConfig())
    milvus: MilvusConfig = Field(default_factory=lambda: MilvusConfig())
    postgres: PostgresConfig = Field(default_factory=lambda: PostgresConfig())
    falkordb: FalkorDBConfig = Field(default_factory=lambda: FalkorDBConfig())

    @field_validator("path", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        if value is None:
            return value
        text = sources.path_text(value)
        if not text.strip():  # Path("") is ".": the working directory
            raise ValueError("must name the SQLite file, not be empty")
        return Path(text)


class EmbedderConfig(_Section):
    """The embedding model: ``use`` (multilingual USE v3), ``minilm`` (English) or ``openai``
    (any OpenAI-compatible ``/v1/embeddings`` endpoint, Ollama included)."""

    provider: str = Field("use", description="Embedder name in the registry: use | minilm | openai.")
    batch_size: int = Field(64, ge=1, le=4096, description="Texts per embedding batch.")
    threads: int = Field(
        2, ge=1, le=64, description="CPU threads for the local model (a batch is split between them)."
    )
    model: str | None = Field(None, description="openai embedder: the model name (required).")
    base_url: str | None = Field(None, description="openai embedder: endpoint base (default OpenAI's).")
    api_key: SecretStr | None = Field(None, description="openai embedder: API key.")
    dim: int | None = Field(
        None, ge=1, description="openai embedder: vector size (unset or 0: asked of the endpoint once)."
    )
    timeout_s: float = Field(
        60.0, gt=0, description="openai embedder: seconds for an answer to one call (tried 3 times)."
    )

    _unset = field_validator("model", "base_url", "api_key", mode="before")(none_if_unset)
    _dim = field_validator("dim", mode="before")(sources.unset_size)
    _url = field_validator("base_url")(sources.url_text)


class IndexConfig(_Section):
    """How episodes are represented in the indexes (the stored text never changes)."""

    speaker: bool = Field(True, description="Index a turn with its speaker's name (\"Ana: …\").")
    context_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A turn's vector adds this share of the previous turn's in the same session "
        "(run_id): an answer is found through its question. 0 turns it off.",
    )
    context_terms: bool = Field(True, description="Also index the previous turn's words with a turn (BM25).")
    context_max_chars: int = Field(
        300,
        ge=0,
        description="Only a previous turn up to this long lends its words (a question, not a document).",
    )


class SearchConfig(_Section):
    """Hybrid retrieval defaults."""

    default_limit: int = Field(10, ge=1, le=1000)
    candidates: int = Field(100, ge=1, le=5000, description="Candidates per retriever before fusion.")
    fusion: Literal["rrf", "score"] = Field(
        "score", description="score: weighted sum of min-max normalised scores; rrf: reciprocal rank fusion."
    )
    rrf_k: float = Field(60.0, gt=0, description="Reciprocal rank fusion constant.")
    dense_weight: float = Field(0.7, ge=0, description="Weight of the embedding similarity.")
    keyword_weight: float = Field(1.0, ge=0, description="Weight of BM25.")
    date_weight: float = Field(
        0.5, ge=0, description="Boost for memories said on a date the query names (0 turns it off)."
    )
    date_slack_days: float = Field(1.0, ge=0, description="Days around a named date that still count.")
    date_candidates: int = Field(200, ge=1, le=1000, description="Candidates checked for a named date.")
    recency_weight: float = Field(0.0, ge=0, description="0 turns recency boosting off.")
    recency_half_life_days: float = Field(30.0, gt=0)


class LimitsConfig(_Section):
    """Ceilings on what one request may carry."""

    max_message_chars: int = Field(32_000, ge=1)
    max_messages_per_add: int = Field(1_000, ge=1)
    max_limit: int = Field(1_000, ge=1)
    max_query_chars: int = Field(4_000, ge=1)
    max_filter_depth: int = Field(8, ge=1)
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_body_bytes_in_flight: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Request bodies one server holds at once, in bytes; a body that does not fit "
        "waits up to body_wait_s for room, then gets 503 server_busy (one body always fits alone).",
    )
    body_wait_s: float = Field(
        10.0, ge=0, le=600, description="Longest a request body waits for room in max_body_bytes_in_flight."
    )


class RuntimeConfig(_Section):
    """Process-wide compute settings."""

    blas_threads: int = Field(
        1,
        ge=0,
        le=64,
        description="Threads numpy's BLAS may use (0 leaves the library default). On small machines "
        "parallel BLAS threads spin between calls and add tail latency to every search.",
    )


def _check_provider(value: Any) -> Any:
    if isinstance(value, str):
        from memoryd.llm.providers import vendor  # the vendor records; cheap, no I/O

        try:
            return vendor(value).name
        except ConfigError as exc:
            raise ValueError(exc.message) from None
    return value


class _LLMTarget(_Section):
    """What names one LLM target; shared by the ``[llm]`` section and its ``tiers`` entries."""

    provider: str = Field("openai", description="Vendor: openai, azure, deepseek, ollama, anthropic, ...")
    model: str | None = Field(None, description="Model (default: the provider's; Azure: the deployment).")
    base_url: str | None = Field(None, description="API base URL (default: the provider's).")
    api_key: SecretStr | None = Field(None, description="API key (default: the provider's env variable).")
    api_version: str | None = Field(None, description="Azure api-version / anthropic-version.")

    _unset = field_validator("model", "base_url", "api_key", "api_version", mode="before")(none_if_unset)
    _url = field_validator("base_url")(sources.url_text)
    _provider = field_validator("provider", mode="before")(_check_provider)


class LLMTargetConfig(_LLMTarget):
    """One target of a tier: a provider and model, and optionally where, with which key, how long."""

    timeout_s: float | None = Field(None, gt=0, description="Default: llm.timeout_s.")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        unknown = sorted(set(data) - set(cls.model_fields)) if isinstance(data, Mapping) else []
        if unknown:
            allowed = ", ".join(sorted(cls.model_fields))
            raise ValueError(f"unknown key {unknown[0]!r} in an llm.tiers target; allowed: {allowed}")
        return data


class LLMConfig(_LLMTarget):
    """The LLM used by fine mode. Configured when ``model``, ``base_url`` or ``tiers`` is set.

    Without ``tiers`` there is one target (provider, model, base_url, api_key). With
    ``tiers`` (a list of tiers, each a list of targets), calls go to the first healthy
    target and fall back along the list. A missing ``api_key`` is read from the
    provider's usual environment variable (``OPENAI_API_KEY``, ...) when the router
    is built, and only for the provider's own default URL.
    """

    timeout_s: float = Field(30.0, gt=0, description="Timeout of one call to one target, seconds.")
    max_tokens: int = Field(2048, ge=1, description="Default cap on answer tokens.")
    temperature: float = Field(0.0, ge=0, le=2)
    max_attempts: int = Field(3, ge=1, le=20, description="Attempts per call, over all targets.")
    max_wait_s: float = Field(10.0, ge=0, description="Longest Retry-After honoured before falling back.")
    breaker_failures: int = Field(3, ge=1, description="Consecutive failures that open a target's breaker.")
    breaker_cooldown_s: float = Field(30.0, ge=0, description="Seconds an open breaker waits before a probe.")
    tiers: list[list[LLMTargetConfig]] = Field(default_factory=list, description="Ordered fallback tiers.")

    @field_validator("tiers", mode="before")
    @classmethod
    def _tiers(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: JSON
            try:
                value = json.loads(value) if value.strip() else []
            except ValueError:
                raise ValueError("must be a JSON list of tiers, each a list of target tables") from None
        if isinstance(value, list):  # a bare table is a tier of one target
            return [[t] if isinstance(t, Mapping) else t for t in value]
        return value

    @property
    def configured(self) -> bool:
        """Whether an LLM is set up (fine mode available)."""
        return bool(self.model or self.base_url or self.tiers)


class FineConfig(_Section):
    """Fine mode (LLM extraction and reconciliation), used when an LLM is configured."""

    context_messages: int = Field(
        6, ge=0, le=100, description="Earlier turns of the session shown to extraction, for references."
    )
    max_facts: int = Field(30, ge=1, le=500, description="Facts kept from one extraction call.")
    max_prompt_chars: int = Field(
        24_000,
        ge=1_000,
        le=2_000_000,
        description="Message text in one extraction call; a longer add is extracted in windows of "
        "consecutive messages, a call each.",
    )
    max_relations: int = Field(50, ge=0, le=1000, description="Relations kept from one extraction.")
    similar_per_fact: int = Field(5, ge=1, le=50, description="Existing memories compared with each fact.")
    max_existing: int = Field(30, ge=1, le=200, description="Existing memories shown to reconciliation.")
    similarity_floor: float = Field(
        0.3, ge=-1, le=1, description="Cosine below which an existing memory is not a candidate."
    )


class ContextConfig(_Section):
    """The context builder (``context()``, ``POST /v1/context``)."""

    token_budget: int = Field(1000, ge=20, le=100_000, description="Default size of a context, in tokens.")
    recent_turns: int = Field(10, ge=0, le=200, description="Recent turns of the session offered.")
    max_facts: int = Field(20, ge=0, le=500, description="Facts and preferences offered, each.")
    max_episodes: int = Field(10, ge=0, le=500, description="Relevant past turns offered.")
    fast_rules: bool = Field(
        True, description="Fast mode: add profile/preference memories from explicit self-statements."
    )


class TiersConfig(_Section):
    """The memory hierarchy: short-term turns per session, mid-term segments with heat, promotion."""

    enabled: bool = Field(True, description="Keep turns in tiers (short-term, mid-term segments, heat).")
    short_term_turns: int = Field(
        20, ge=1, le=1000, description="Turns a session keeps in short-term (20: ten question/answer pairs)."
    )
    short_term_sessions: int = Field(
        4, ge=1, le=1000, description="Sessions of a user that keep short-term turns; older ones move on."
    )
    segment_similarity: float = Field(
        0.6, ge=-1, le=1, description="Cosine between a turn and a segment's centroid to join the segment."
    )
    continuity_bonus: float = Field(
        0.05, ge=0, le=1, description="Added to the similarity of the segment the session's last turn joined."
    )
    segment_max_turns: int = Field(200, ge=1, description="A full segment takes no more turns.")
    mid_term_segments: int = Field(
        200, ge=1, description="Segments a user keeps in mid-term; beyond, the coldest are evicted."
    )
    heat_retrieval_weight: float = Field(1.0, ge=0, description="Heat per retrieval of a segment's turns.")
    heat_interaction_weight: float = Field(0.5, ge=0, description="Heat per turn a segment holds.")
    heat_recency_weight: float = Field(1.0, ge=0, description="Heat of a segment touched just now.")
    heat_half_life_hours: float = Field(
        24.0, gt=0, description="The recency part of heat halves every this many hours."
    )
    promote_heat: float = Field(
        5.0, ge=0, description="Heat at which a segment is promoted to long-term processing."
    )
    heat_flush_every: int = Field(
        1000, ge=1, description="Retrieved ids held in memory before heat is written in the background."
    )
    heat_flush_after_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds a retrieval count waits in memory before heat is written in the background "
        "(a kill loses at most that much).",
    )
    topic_similarity: float = Field(
        0.5, ge=-1, le=1, description="Memory tree: segments whose centroids are this similar share a topic."
    )


class ServerConfig(_Section):
    """The HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(8420, ge=0, le=65535)
    _host = field_validator("host")(sources.bind_host)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    keep_alive_s: int = Field(
        75,
        ge=1,
        le=3600,
        description="Seconds an idle client connection is kept open: longer than clients keep theirs "
        "(httpx 5 s, aiohttp 15 s, load balancers 60 s), so none sends on a connection being closed.",
    )


class AuthConfig(_Section):
    """API keys, tenants and per-key rate limits (see the README's "Security")."""

    required: Literal["auto", "always"] = Field(
        "auto",
        description="auto: keys are required once any key exists or the server binds to a non-loopback "
        "address; always: required even on loopback with no keys.",
    )
    keys_path: Path | None = Field(
        None, description="SQLite file of API keys (salted hashes); default keys.db next to storage.path."
    )
    tenants_dir: Path | None = Field(
        None, description="Where each tenant's own store lives; default tenants/ next to storage.path."
    )
    rate_limit_per_s: float = Field(
        50.0, ge=0, description="Requests per second each API key may send on average (0 turns it off)."
    )
    rate_limit_burst: int = Field(100, ge=1, description="Requests a key may send at once above its rate.")
    tenant_rate_limit_per_s: float = Field(
        0.0, ge=0, description="Requests per second all keys of a tenant (but admin keys) may send (0: off)."
    )
    tenant_rate_limit_burst: int = Field(
        1000, ge=1, description="Requests a tenant's keys may send at once above the tenant's rate."
    )
    max_open_tenants: int = Field(
        64, ge=1, description="Tenant stores kept open at once; the least recently used is closed."
    )

    @field_validator("keys_path", "tenants_dir", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return optional_path(value)


class PipelineConfig(_Section):
    """The async memory pipeline (Redis Streams): ``add`` requests become events that workers process.

    ``enabled`` is the ``async_pipeline`` switch (also ``MEMORYD_ASYNC_PIPELINE``). Key names
    are ``{prefix}{stream}`` for the stream and ``{prefix}{stream}:...`` for the rest
    (``chat_log:dlq``, ...); :mod:`memoryd.pipeline.keys` lists them all.
    """

    enabled: bool = Field(False, description="Queue add requests as events (async_pipeline).")
    backend: str = Field("redis", description="Event queue backend in the registry.")
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"), description="Redis URL (redis://[:password@]host:port/db)."
    )
    prefix: str = Field("", max_length=100, description="Prefix of every Redis key (e.g. 'tenant-a:').")
    stream: str = Field("chat_log", min_length=1, max_length=100, description="The event stream's name.")
    group: str = Field("memoryd", min_length=1, max_length=100, description="Consumer group of the workers.")
    consumer: str = Field("", max_length=100, description="This worker's consumer name ('' = host-pid).")
    batch_size: int = Field(256, ge=1, le=1000, description="Events a worker reads (and embeds) at once.")
    block_ms: int = Field(1000, ge=1, le=60_000, description="How long a worker waits for new events.")
    max_attempts: int = Field(5, ge=1, le=100, description="Attempts before an event goes to the DLQ.")
    backoff_base_ms: int = Field(500, ge=0, description="First retry delay; doubles with each attempt.")
    backoff_max_ms: int = Field(60_000, ge=0, description="Longest retry delay.")
    claim_idle_ms: int = Field(
        30_000, ge=100, description="Pending events idle this long (their worker died) are reclaimed."
    )
    result_ttl_s: int = Field(
        86_400, ge=1, description="How long an event's status and result are kept once it has ended."
    )
    delete_acked: bool = Field(
        True, description="Delete processed events from the stream (off if other groups read it)."
    )
    on_unavailable: Literal["sync", "reject"] = Field(
        "sync", description="Redis unreachable: process adds synchronously, or answer 503."
    )
    timeout_s: float = Field(2.0, gt=0, le=60, description="Timeout of one Redis call.")

    _names = field_validator("group", "consumer")(sources.printable_name)  # they go into log lines

    @property
    def ns(self) -> str:
        """The stream's full name, which every other key name starts with."""
        return f"{self.prefix}{self.stream}"


class GatewayConfig(_Section):
    """The OpenAI-compatible chat gateway (``POST /v1/chat/completions``); upstreams come from ``[llm]``."""

    enabled: bool = Field(True, description="Serve the chat gateway (it needs an LLM in [llm]).")
    token_budget: int = Field(
        800,
        ge=100,
        le=100_000,
        description="Size of the injected memory block, in tokens, its frame (preamble and fences, "
        "86 tokens) included.",
    )
    inject_mode: Literal["system", "merge"] = Field(
        "system", description="system: a system message of its own; merge: appended to the system prompt."
    )
    memory_timeout_s: float = Field(
        2.0, gt=0, le=60, description="Longest wait for memories; after it the call goes on without them."
    )
    answer_timeout_s: float = Field(
        600.0,
        gt=0,
        le=3600,
        description="Longest wait for a non-streamed answer, or a stream's first chunk, once sent (a long "
        "generation); connecting, and a stream's waits after its first chunk, give up after llm.timeout_s.",
    )
    writeback: bool = Field(True, description="Store each completed turn (user message and answer).")
    user_headers: list[str] = Field(
        default_factory=lambda: ["X-Memoryd-User-Id", "X-User-ID"],
        description="Request headers naming the user, first found wins (before the body's `user`).",
    )
    session_headers: list[str] = Field(
        default_factory=lambda: ["X-Memoryd-Session-Id"],
        description="Request headers naming the session (before `metadata.session_id`).",
    )
    aliases: dict[str, str] = Field(
        default_factory=dict, description="Model names clients may ask for -> a model or target of [llm]."
    )
    unknown_model: Literal["route", "reject"] = Field(
        "route", description="A model no target serves: route it through the tiers, or answer 404."
    )
    fallback_models: bool = Field(
        True, description="After a model's own targets fail, fall back to the other tiers' models."
    )
    stream_usage: bool = Field(
        True, description="Ask OpenAI-shaped upstreams for usage in streams (hidden unless asked for)."
    )
    usage_flush_s: float = Field(1.0, gt=0, le=3600, description="How often usage counters are saved.")
    max_body_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        description="Largest body of POST /v1/chat/completions (images sent inline, as base64, make "
        "big ones); every other route's is limits.max_body_bytes.",
    )

    _lists = field_validator("user_headers", "session_headers", mode="before")(sources.str_list)
    _maps = field_validator("aliases", mode="before")(sources.str_map)


class Settings(_Section):
    """Every setting memoryd reads. Build it with :func:`load_settings`."""

    storage: StorageConfig = Field(default_factory=lambda: StorageConfig())
    embedder: EmbedderConfig = Field(default_factory=lambda: EmbedderConfig())
    index: IndexConfig = Field(default_factory=lambda: IndexConfig())
    search: SearchConfig = Field(default_factory=lambda: SearchConfig())
    limits: LimitsConfig = Field(default_factory=lambda: LimitsConfig())
    server: ServerConfig = Field(default_factory=lambda: ServerConfig())
    runtime: RuntimeConfig = Field(default_factory=lambda: RuntimeConfig())
    llm: LLMConfig = Field(default_factory=lambda: LLMConfig())
    fine: FineConfig = Field(default_factory=lambda: FineConfig())
    context: ContextConfig = Field(default_factory=lambda: ContextConfig())
    tiers: TiersConfig = Field(default_factory=lambda: TiersConfig())
    pipeline: PipelineConfig = Field(default_factory=lambda: PipelineConfig())
    gateway: GatewayConfig = Field(default_factory=lambda: GatewayConfig())
    auth: AuthConfig = Field(default_factory=lambda: AuthConfig())

    def keys_path(self) -> Path:
        """The API key store: ``auth.keys_path``, else ``keys.db`` beside the database."""
        return self.auth.keys_path or self.storage.path.parent / "keys.db"

    def tenants_dir(self) -> Path:
        """Where tenants' stores live: ``auth.tenants_dir``, else ``tenants/`` beside the database."""
        return self.auth.tenants_dir or self.storage.path.parent / "tenants"

    def for_tenant(self, tenant: str) -> Settings:
        """These settings for one tenant's store: the default tenant is ``storage.path`` itself,
        every other one its own file in its own folder under ``auth.tenants_dir`` (named as
        :func:`memoryd.tenant_folders.tenant_folder` says: two names that differ only in case
        never share one; an old folder that would be shared is a :class:`ConfigError`)."""
        if tenant == DEFAULT_TENANT:
            return self
        root = self.tenants_dir()
        folder = tenant_folder(root, tenant)
        # A Qdrant server is shared: each tenant gets collections of its own (local mode: its own folder).
        qdrant = self.storage.qdrant
        own: dict[str, Any] = {"collection": f"{qdrant.collection}-{tenant}"}
        if qdrant.path is not None and not qdrant.url:  # local mode: one client per folder in a process
            own["path"] = qdrant.path.with_name(f"{qdrant.path.name}-{folder}")
        qdrant = qdrant.model_copy(update=own)
        # Milvus and PostgreSQL names: letters, digits and _ only; "_" and "-" escaped, one to one.
        escaped = tenant.replace("_", "__").replace("-", "_h")
        milvus = self.storage.milvus
        milvus = milvus.model_copy(update={"collection": f"{milvus.collection}_t_{escaped}"})
        postgres = self.storage.postgres
        postgres = postgres.model_copy(update={"table": f"{postgres.table}_t_{escaped}"})
        falkordb = self.storage.falkordb
        falkordb = falkordb.model_copy(update={"graph": f"{falkordb.graph}-{tenant}"})
        path = root / folder / self.storage.path.name
        parts = {"path": path, "qdrant": qdrant, "milvus": milvus, "postgres": postgres, "falkordb": falkordb}
        storage = self.storage.model_copy(update=parts)
        auth = self.auth.model_copy(update={"keys_path": self.keys_path(), "tenants_dir": root})
        return self.model_copy(update={"storage": storage, "auth": auth})

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data, with secrets masked, for ``config show``."""
        data = self.model_dump(mode="json")
        mask(data)
        secret_urls(self, data)
        return data


def _types_in(annotation: Any) -> list[Any]:
    """``annotation`` and every type inside it (``list[list[LLMTargetConfig]]``, ``SecretStr | None``)."""
    return [annotation, *(t for arg in get_args(annotation) for t in _types_in(arg))]


def _holds_secret(loc: tuple[int | str, ...]) -> bool:
    """The setting at ``loc`` (a validation error's, list indexes included) is a secret."""
    model: type[BaseModel] | None = Settings
    found: list[Any] = []
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return False
        found = _types_in(field.annotation)
        model = next((t for t in found if isinstance(t, type) and issubclass(t, BaseModel)), None)
    return SecretStr in found


def env_key(name: str) -> str | None:
    """The dotted setting an environment variable sets (:func:`memoryd.config_sources.env_key`)."""
    return sources.env_key(name, Settings.model_fields)


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings once: defaults < TOML file < environment < ``overrides``."""
    environ = os.environ if env is None else env
    data: dict[str, Any] = {}
    file = path or environ.get(CONFIG_ENV)
    if file:
        file_path = Path(file).expanduser()
        try:
            raw = file_path.read_bytes()
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {file_path}", field="config") from exc
        except OSError as exc:  # a directory, no permission, ...
            reason = exc.strerror or str(exc)
            raise ConfigError(f"cannot read config file {file_path}: {reason}", field="config") from exc
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark is no TOML
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            msg = f"config file {file_path} is not valid TOML: line {line} is not UTF-8 text"
            raise ConfigError(msg, field="config") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file_path} is not valid TOML: {exc}", field="config") from exc
        data = sources.unalias(data)
        sources.check_keys(data, Settings, "", str(file_path))
    origins: dict[str, str] = {}  # dotted setting -> the MEMORYD_* variable that set it
    env_data = sources.env_overrides(environ, Settings.model_fields, origins)
    sources.check_keys(env_data, Settings, "", "the environment", origins)
    data = sources.merge(data, env_data)
    if overrides:
        over = sources.unalias(overrides)
        sources.check_keys(over, Settings, "", "overrides")
        data = sources.merge(data, over)
        origins = {}  # a variable's value may be overridden: its name could mislead
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        value = first.get("input")
        got = repr(masked(value, str(first["loc"][-1]) if first["loc"] else ""))
        if isinstance(value, (list, Mapping)) and _holds_secret(first["loc"]):  # secrets inside
            got = "a table" if isinstance(value, Mapping) else "a list"
        named = sources.named_by(where, origins)
        msg = f"setting '{where}'{named}: {first['msg']} (got {got})"
        raise ConfigError(msg, field=where) from exc
