"""memoryd: self-hosted long-term memory for LLM applications and agents.

>>> from memoryd import Memory
>>> with Memory() as mem:
...     mem.add("I moved to Lisbon last spring", user_id="alice")
...     hits = mem.search("where does alice live?", user_id="alice")

Names load on first use (:pep:`562`): ``import memoryd`` alone, and the ``memoryd`` command
before it sets up its Ctrl-C handling, import none of the heavy modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memoryd.client import Memory
    from memoryd.config import Settings, load_settings
    from memoryd.context import Context, ContextItem
    from memoryd.errors import (
        AuthenticationError,
        BackendUnavailableError,
        ConfigError,
        ConflictError,
        EmbedderMismatchError,
        InvalidFilterError,
        InvalidInputError,
        LLMError,
        LLMOutputError,
        LLMTimeoutError,
        LLMUnavailableError,
        MemorydError,
        MissingExtraError,
        NotFoundError,
        NotSupportedError,
        PayloadTooLargeError,
        PermissionDeniedError,
        RateLimitedError,
        StorageError,
    )
    from memoryd.graph import Entity, Relation
    from memoryd.memory import AsyncMemory
    from memoryd.models import (
        AddResult,
        AddResults,
        Event,
        HistoryEntry,
        LLMUsage,
        MemoryKind,
        MemoryRecord,
        Message,
        Page,
        Scope,
        SearchHit,
        UpdateResult,
    )
    from memoryd.remote import AsyncMemoryClient, MemoryClient
    from memoryd.retrieval.related import SearchResults

__version__ = "0.1.0"

__all__ = [
    "AddResult",
    "AddResults",
    "AsyncMemory",
    "AsyncMemoryClient",
    "AuthenticationError",
    "BackendUnavailableError",
    "ConfigError",
    "ConflictError",
    "Context",
    "ContextItem",
    "EmbedderMismatchError",
    "Entity",
    "Event",
    "HistoryEntry",
    "InvalidFilterError",
    "InvalidInputError",
    "LLMError",
    "LLMOutputError",
    "LLMTimeoutError",
    "LLMUnavailableError",
    "LLMUsage",
    "Memory",
    "MemoryClient",
    "MemoryKind",
    "MemoryRecord",
    "MemorydError",
    "Message",
    "MissingExtraError",
    "NotFoundError",
    "NotSupportedError",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "Relation",
    "Scope",
    "SearchHit",
    "SearchResults",
    "Settings",
    "StorageError",
    "UpdateResult",
    "__version__",
    "load_settings",
]

_HOMES = {  # a public name -> the module that defines it
    "AddResult": "memoryd.models",
    "AddResults": "memoryd.models",
    "AsyncMemory": "memoryd.memory",
    "AsyncMemoryClient": "memoryd.remote",
    "AuthenticationError": "memoryd.errors",
    "BackendUnavailableError": "memoryd.errors",
    "ConfigError": "memoryd.errors",
    "ConflictError": "memoryd.errors",
    "Context": "memoryd.context",
    "ContextItem": "memoryd.context",
    "EmbedderMismatchError": "memoryd.errors",
    "Entity": "memoryd.graph",
    "Event": "memoryd.models",
    "HistoryEntry": "memoryd.models",
    "InvalidFilterError": "memoryd.errors",
    "InvalidInputError": "memoryd.errors",
    "LLMError": "memoryd.errors",
    "LLMOutputError": "memoryd.errors",
    "LLMTimeoutError": "memoryd.errors",
    "LLMUnavailableError": "memoryd.errors",
    "LLMUsage": "memoryd.models",
    "Memory": "memoryd.client",
    "MemoryClient": "memoryd.remote",
    "MemoryKind": "memoryd.models",
    "MemoryRecord": "memoryd.models",
    "MemorydError": "memoryd.errors",
    "Message": "memoryd.models",
    "MissingExtraError": "memoryd.errors",
    "NotFoundError": "memoryd.errors",
    "NotSupportedError": "memoryd.errors",
    "Page": "memoryd.models",
    "PayloadTooLargeError": "memoryd.errors",
    "PermissionDeniedError": "memoryd.errors",
    "RateLimitedError": "memoryd.errors",
    "Relation": "memoryd.graph",
    "Scope": "memoryd.models",
    "SearchHit": "memoryd.models",
    "SearchResults": "memoryd.retrieval.related",
    "Settings": "memoryd.config",
    "StorageError": "memoryd.errors",
    "UpdateResult": "memoryd.models",
    "load_settings": "memoryd.config",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'memoryd' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
