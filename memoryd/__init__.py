"""memoryd: self-hosted long-term memory for LLM applications and agents.

>>> from memoryd import Memory
>>> with Memory() as mem:
...     mem.add("I moved to Lisbon last spring", user_id="alice")
...     hits = mem.search("where does alice live?", user_id="alice")
"""

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
