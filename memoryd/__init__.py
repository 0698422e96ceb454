"""memoryd: self-hosted long-term memory for LLM applications and agents.

>>> from memoryd import Memory
>>> with Memory() as mem:
...     mem.add("I moved to Lisbon last spring", user_id="alice")
...     hits = mem.search("where does alice live?", user_id="alice")
"""

from memoryd.client import Memory
from memoryd.config import Settings, load_settings
from memoryd.errors import (
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    EmbedderMismatchError,
    InvalidFilterError,
    InvalidInputError,
    MemorydError,
    MissingExtraError,
    NotFoundError,
    NotSupportedError,
    PayloadTooLargeError,
    StorageError,
)
from memoryd.memory import AsyncMemory
from memoryd.models import (
    AddResult,
    Event,
    HistoryEntry,
    MemoryKind,
    MemoryRecord,
    Message,
    Page,
    Scope,
    SearchHit,
)

__version__ = "0.1.0"

__all__ = [
    "AddResult",
    "AsyncMemory",
    "BackendUnavailableError",
    "ConfigError",
    "ConflictError",
    "EmbedderMismatchError",
    "Event",
    "HistoryEntry",
    "InvalidFilterError",
    "InvalidInputError",
    "Memory",
    "MemoryKind",
    "MemoryRecord",
    "MemorydError",
    "Message",
    "MissingExtraError",
    "NotFoundError",
    "NotSupportedError",
    "Page",
    "PayloadTooLargeError",
    "Scope",
    "SearchHit",
    "Settings",
    "StorageError",
    "__version__",
    "load_settings",
]
