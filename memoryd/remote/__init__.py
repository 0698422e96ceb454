"""A memoryd server used from Python as the embedded library is: :class:`AsyncMemoryClient` (async
core, on httpx) and :class:`MemoryClient` (its synchronous wrapper). Same method names, arguments,
results and exception classes as :class:`memoryd.AsyncMemory` / :class:`memoryd.Memory`."""

from memoryd.remote.client import AsyncMemoryClient
from memoryd.remote.parse import Submitted
from memoryd.remote.sync import MemoryClient

__all__ = ["AsyncMemoryClient", "MemoryClient", "Submitted"]
