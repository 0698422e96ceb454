"""The one registry from backend and provider names to implementations.

Built-ins register here exactly like third-party plugins would, by a dotted
``module:attribute`` path that is imported only when the name is used, so a
missing optional extra fails at start-up with a message naming the extra,
never at import time.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from memoryd.errors import ConfigError, MissingExtraError

__all__ = ["ROLES", "STORAGE_ROLES", "Entry", "available", "register", "resolve", "unregister"]

ROLES = ("embedder", "records", "vectors", "keywords", "graph", "segments", "queue", "usage")


@dataclass(frozen=True)
class Entry:
    role: str
    name: str
    target: str  # "package.module:Attribute"
    extra: str | None  # pip extra that provides its dependencies, if any
    description: str


_REGISTRY: dict[tuple[str, str], Entry] = {}

# Production storage backends announced for a role but not there yet (neo4j is still an empty
# pip extra; postgres holds vectors only): named in the error for a [storage] setting that asks
# for one, so it reads as neither a typo nor a missing install.
PLANNED = {"records": ("postgres",), "graph": ("neo4j",)}
STORAGE_ROLES = ("records", "vectors", "keywords", "graph", "segments")  # the [storage] settings
_SETTING = {"embedder": "embedder.provider", "queue": "pipeline.backend"}  # else storage.<role>


def register(role: str, name: str, target: str, *, extra: str | None = None, description: str = "") -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    _REGISTRY[(role, name)] = Entry(role, name, target, extra, description)


def unregister(role: str, name: str) -> None:
    """Remove a registration (plugins unloading, tests)."""
    _REGISTRY.pop((role, name), None)


def available(role: str) -> list[Entry]:
    return sorted((e for (r, _), e in _REGISTRY.items() if r == role), key=lambda e: e.name)


def entry(role: str, name: str) -> Entry:
    try:
        return _REGISTRY[(role, name)]
    except KeyError:
        names = ", ".join(e.name for e in available(role))
        if name in PLANNED.get(role, ()):
            from memoryd import __version__

            msg = (
                f"unknown {role} backend {name!r}: {name} is planned for a later release and not "
                f"available in memoryd {__version__}; allowed: {names}"
            )
        else:
            msg = f"unknown {role} backend {name!r}; allowed: {names}"
        raise ConfigError(msg, field=_SETTING.get(role, f"storage.{role}")) from None


def resolve(role: str, name: str) -> Any:
    """Import and return the implementation registered as ``name`` for ``role``."""
    found = entry(role, name)
    module_name, _, attr = found.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if found.extra:
            raise MissingExtraError(found.extra, f"{role} backend {name!r}") from exc
        raise
    return getattr(module, attr)


# Built-ins.
register(
    "embedder",
    "use",
    "memoryd.embedders.use:USEEmbedder",
    description="Multilingual Universal Sentence Encoder v3 (512-d, numpy, default)",
)
register(
    "embedder",
    "minilm",
    "memoryd.embedders.minilm:MiniLMEmbedder",
    extra="minilm",
    description="all-MiniLM-L6-v2 (384-d, English, PyTorch)",
)
register(
    "embedder",
    "openai",
    "memoryd.embedders.openai:OpenAIEmbedder",
    description="Any OpenAI-compatible /v1/embeddings endpoint (OpenAI, Ollama, vLLM; set embedder.model)",
)
register(
    "records",
    "sqlite",
    "memoryd.storage.sqlite.records:SQLiteRecordStore",
    description="Embedded SQLite record store (default)",
)
register(
    "vectors",
    "sqlite",
    "memoryd.storage.sqlite.vectors:SQLiteVectorIndex",
    description="Vectors in SQLite, searched in memory (exact or HNSW)",
)
register(
    "vectors",
    "qdrant",
    "memoryd.storage.qdrant.vectors:QdrantVectorIndex",
    extra="qdrant",
    description="Qdrant: a server at storage.qdrant.url, or local mode in a folder (one process)",
)
register(
    "vectors",
    "milvus",
    "memoryd.storage.milvus.vectors:MilvusVectorIndex",
    extra="milvus",
    description="Milvus: a server at storage.milvus.uri, or Milvus Lite in a file (one process)",
)
register(
    "vectors",
    "postgres",
    "memoryd.storage.postgres.vectors:PostgresVectorIndex",
    extra="postgres",
    description="PostgreSQL with pgvector at storage.postgres.url (exact search within a scope)",
)
register(
    "keywords",
    "sqlite",
    "memoryd.storage.sqlite.keywords:SQLiteKeywordIndex",
    description="SQLite FTS5 with BM25 (default)",
)
register(
    "graph",
    "sqlite",
    "memoryd.storage.sqlite.graph:SQLiteGraphStore",
    description="Entities and relations in SQLite tables (default)",
)
register(
    "graph",
    "falkordb",
    "memoryd.storage.falkordb.graph:FalkorDBGraphStore",
    extra="falkordb",
    description="Entities and relations in a FalkorDB server's graph at storage.falkordb.url",
)
register(
    "usage",
    "sqlite",
    "memoryd.storage.sqlite.usage:SQLiteUsageStore",
    description="Chat gateway usage counters in the SQLite file (kept by the record store's backend)",
)
register(
    "segments",
    "sqlite",
    "memoryd.storage.sqlite.segments:SQLiteSegmentStore",
    description="Memory tiers in SQLite tables: short-term turns, mid-term segments and their heat (default)",
)
register(
    "queue",
    "redis",
    "memoryd.pipeline.redis_queue:RedisQueue",
    extra="redis",
    description="Redis Streams event queue of the async pipeline (chat_log, consumer groups, DLQ)",
)
