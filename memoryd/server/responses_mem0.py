"""The success bodies of the mem0-compatible routes, in mem0's shapes, for the schema (see
:mod:`memoryd.server.responses`; the routes are :mod:`memoryd.server.routes_mem0`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, RootModel

from memoryd.server.responses import Absent, GraphChanges, LLMUsageReply

__all__ = [
    "Mem0AddReply",
    "Mem0AddRow",
    "Mem0HistoryReply",
    "Mem0HistoryRow",
    "Mem0Item",
    "Mem0ListReply",
    "Mem0Message",
    "Mem0PendingReply",
    "Mem0PendingRow",
]

Mem0Event = Literal["ADD", "UPDATE", "DELETE", "SUPERSEDE", "NONE", "ERROR"]  # NONE: mem0's NOOP


class Mem0Item(BaseModel):
    """One memory in mem0's ``MemoryItem`` shape; the ids, ``actor_id`` and ``role`` only when set."""

    id: str
    memory: str
    hash: str
    metadata: dict[str, Any] | None = Field(description="null when empty, as mem0's.")
    score: float | None = Field(description="Search only: the cosine similarity to the query.")
    created_at: datetime
    updated_at: datetime
    user_id: str | Absent = None
    agent_id: str | Absent = None
    run_id: str | Absent = None
    actor_id: str | Absent = None
    role: str | Absent = None


class Mem0ListReply(BaseModel):
    results: list[Mem0Item]


class Mem0AddRow(BaseModel):
    id: str | None
    memory: str | None
    event: Mem0Event
    previous_memory: str | Absent = Field(None, description="The text it updated.")


class Mem0AddReply(BaseModel):
    """An add stored at once (or processed at once with the queue unreachable)."""

    results: list[Mem0AddRow]
    mode: Literal["fast", "fine"]
    relations: GraphChanges | Absent = Field(None, description="Fine mode's graph changes.")
    notice: str | Absent = Field(
        None, description="Why the messages were stored as given (no LLM, or the LLM failed)."
    )
    llm: LLMUsageReply | Absent = Field(None, description="Fine mode's LLM calls and tokens.")
    event_id: str | Absent = None


class Mem0PendingRow(BaseModel):
    message: str
    status: Literal["PENDING", "SUCCEEDED", "FAILED"]
    event_id: str = Field(description="Look it up at `GET /v1/events/{event_id}`.")


class Mem0PendingReply(BaseModel):
    """An add queued by the async pipeline (or the same ``event_id`` again), as mem0's platform
    answers an asynchronous add."""

    results: list[Mem0PendingRow]


class Mem0Message(BaseModel):
    message: str


class Mem0HistoryRow(BaseModel):
    """One change, as a row of mem0's history table."""

    id: str
    memory_id: str
    old_memory: str | None
    new_memory: str | None
    event: Mem0Event
    created_at: datetime = Field(description="When the memory was created.")
    updated_at: datetime | None = Field(description="When this change was made; null for the ADD.")
    is_deleted: bool
    actor_id: None
    role: None


class Mem0HistoryReply(RootModel[list[Mem0HistoryRow]]):
    """Every change, oldest first."""
