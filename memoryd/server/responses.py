"""The success bodies of the REST routes, as Pydantic models, for the OpenAPI schema only.

Routes build their answers as plain dicts (each model's ``to_dict()``); these models
describe those dicts so that ``/openapi.json`` shows every field and a generated client
gets types instead of ``Any``. They are never instantiated and never filter an answer:
:func:`answers` documents a model without making it the route's ``response_model``.

Conventions: a field typed ``X | None`` is always present, ``null`` when unknown; a field
typed ``X | Absent`` (default ``None``) is left out of the answer when it does not apply,
and is ``X`` when present. Times are ISO 8601 with an offset (UTC).
The mem0-compatible bodies are in :mod:`memoryd.server.responses_mem0`, the memory tree and
the owners listing in :mod:`memoryd.server.responses_tree`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from memoryd.models import Event, MemoryKind
from memoryd.pipeline.events import EventStatus

__all__ = [
    "Absent",
    "AddItem",
    "AddReply",
    "ApiKeyReply",
    "ContextItemReply",
    "ContextReply",
    "DeleteAllReply",
    "DeleteReply",
    "DeleteUserReply",
    "EventReply",
    "EventResult",
    "GraphChanges",
    "HistoryItem",
    "HistoryReply",
    "KeyListReply",
    "LLMUsageReply",
    "MemoryItem",
    "NewKeyReply",
    "PageReply",
    "QueuedReply",
    "RelationItem",
    "ResetReply",
    "SearchHitItem",
    "SearchReply",
    "SubmissionReply",
    "Triple",
    "UpdateReply",
    "answers",
]

Absent = SkipJsonSchema[None]  # with a default of None: left out of the answer, never null


def answers(
    model: Any, status: int = 200, more: dict[int | str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A route decorator's arguments documenting ``model`` as its ``status`` answer's JSON body
    (``more``: other documented answers), without changing the answer.

    ``response_model=Any`` replaces the model FastAPI would infer from the route's return
    annotation (``dict[str, Any]``): that one's schema, an open object, would be merged into
    this one's. The answer is serialised as before (pydantic's JSON serialiser infers each
    value's type either way: the same bytes), minus a copy of the dict made to validate it.
    """
    responses: dict[int | str, dict[str, Any]] = {status: {"model": model}, **(more or {})}
    return {"response_model": Any, "responses": responses}


class MemoryItem(BaseModel):
    """One memory, as every ``/v1`` route shows it."""

    id: str
    memory: str = Field(description="The text (as mem0 names it); the same as `text`.")
    text: str
    kind: MemoryKind
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    metadata: dict[str, Any]
    role: str | None = Field(description="The role of the message it was, for an episode.")
    actor: str | None = Field(description="Who said it (a message's `name`).")
    source_ids: list[str] = Field(description="The episodes it was distilled from.")
    event_time: datetime | None = Field(description="When it happened, as the add's `timestamp` said.")
    created_at: datetime
    updated_at: datetime
    hash: str = Field(description="SHA-256 of its normalised text.")
    valid_from: datetime
    valid_to: datetime | None = Field(description="When a newer memory superseded it; null: current.")


class SearchHitItem(MemoryItem):
    score: float = Field(description="The fused hybrid score, higher is better.")
    explain: dict[str, Any] | Absent = Field(None, description="The score's parts (with `explain`).")


class Triple(BaseModel):
    """A graph edge by its entities' names, as mem0 shows it."""

    source: str
    relationship: str
    target: str


class GraphChanges(BaseModel):
    """The graph changes of an add (fine mode), in mem0's names."""

    added_entities: list[Triple] = Field(description="New edges, and edges current again.")
    deleted_entities: list[Triple] = Field(description="Edges whose validity ended.")


class LLMUsageReply(BaseModel):
    """The LLM cost of a fine-mode add."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    fallback: str | None = Field(description="Why only the episodes were stored, when the LLM failed.")
    incomplete: str | None = Field(description="What was left undone (an answer cut short, ...).")


class AddItem(BaseModel):
    """What an add did to one item: a stored message, or (fine mode, rules) a derived memory."""

    id: str | None
    memory: str | None = Field(description="The item's text.")
    event: Event
    index: int = Field(description="The message's position, or the fact's in the extraction.")
    kind: MemoryKind
    reason: str | Absent = Field(None, description="Why, for a NOOP or a DELETE.")
    previous_memory: str | Absent = Field(None, description="The text it updated or replaced.")
    sources: list[str] | Absent = Field(None, description="The episode ids it came from.")
    valid_to: str | Absent = Field(
        None, description="When it stopped holding, for one stored already ended (a home told late)."
    )
    record: MemoryItem | Absent = Field(
        None, description="The memory as stored (as `GET /v1/memories/{id}` gives it), when there is one."
    )


class AddReply(BaseModel):
    """An add stored at once: one result per input message, then one per derived memory."""

    results: list[AddItem]
    mode: Literal["fast", "fine"]
    llm: LLMUsageReply | Absent = Field(None, description="Fine mode's LLM calls and tokens.")
    relations: GraphChanges | Absent = Field(None, description="Fine mode's graph changes.")
    event_id: str | Absent = Field(None, description="The `event_id` the request gave.")


class EventResult(BaseModel):
    """The result of a processed event: its add's results, or why nothing was stored."""

    results: list[AddItem]
    mode: Literal["fast", "fine"] | Absent = None
    llm: LLMUsageReply | Absent = None
    relations: GraphChanges | Absent = None
    skipped: str | Absent = Field(None, description="Why nothing was stored (applied before, user erased).")


class EventReply(BaseModel):
    """An event of the async pipeline and where it is."""

    event_id: str
    status: EventStatus
    attempts: int
    source: str | Absent = Field(None, description="Who submitted it, e.g. `api:v1`.")
    created_at: str | Absent = None
    updated_at: str | Absent = None
    finished_at: str | Absent = None
    stream_id: str | Absent = None
    consumer: str | Absent = Field(None, description="The worker processing it.")
    result: EventResult | Absent = Field(None, description="When `done`.")
    error: dict[str, Any] | Absent = Field(
        None, description="The last failure (`code`, `message`, `type`, `transient`, ...)."
    )
    retry_at: str | Absent = Field(
        None, description="When `failed`, or `queued` while it waits on the store: the next attempt."
    )
    dlq_id: str | Absent = Field(None, description="When `dead_lettered`: its dead-letter entry.")
    pipeline: Literal["bypassed"] | Absent = Field(
        None,
        description="`bypassed`: Redis does not answer, and this server applied the add on the "
        "synchronous path while Redis was unreachable: `done`, with no `result` (the store keeps none; "
        "that add's answer gave it). An event the store knows otherwise (a worker's, stored before Redis "
        "went down) is `done` with no `pipeline`.",
    )


class QueuedReply(BaseModel):
    """An add queued by the async pipeline (202): look it up at ``GET /v1/events/{event_id}``."""

    event_id: str
    status: Literal[EventStatus.QUEUED]
    pipeline: Literal["queued"]


class SubmissionReply(BaseModel):
    """An add through the async pipeline that was not newly queued: the same ``event_id`` again
    (``event`` NOOP, with the event's ``record``), or processed at once with Redis unreachable
    (``pipeline`` bypassed, with the add's results)."""

    event_id: str
    status: EventStatus
    pipeline: Literal["queued", "bypassed"]
    event: Literal[Event.NOOP] | Absent = Field(None, description="A duplicate of a known event.")
    reason: str | Absent = None
    record: EventReply | Absent = Field(None, description="The known event's status.")
    results: list[AddItem] | Absent = None
    mode: Literal["fast", "fine"] | Absent = None
    llm: LLMUsageReply | Absent = None
    relations: GraphChanges | Absent = None


class PageReply(BaseModel):
    """A page of memories, newest first, with the total that matched."""

    results: list[MemoryItem]
    total: int
    offset: int
    limit: int


class RelationItem(BaseModel):
    """A graph edge the search reached (with ``graph_hops``)."""

    source: str
    relationship: str
    target: str
    id: str
    source_id: str
    target_id: str
    source_type: str | None
    target_type: str | None
    memory_id: str = Field(description="The first memory that asserted it.")
    memory_ids: list[str]
    run_id: str | None
    valid_from: datetime
    valid_to: datetime | None
    reason: str | None = Field(description="Why its validity ended, when it did.")
    created_at: datetime


class SearchReply(BaseModel):
    results: list[SearchHitItem] = Field(description="Best first.")
    relations: list[RelationItem] | Absent = Field(None, description="With `graph_hops`.")


class UpdateReply(MemoryItem):
    """The memory as it now is, and what the update did."""

    event: Literal[Event.UPDATE, Event.NOOP]
    derived: list[AddItem] = Field(description="What editing a turn changed among its rule memories.")


class DeleteReply(BaseModel):
    deleted: int = Field(description="The memory and the rule memories it alone stated.")
    id: str
    memory: MemoryItem = Field(description="The memory as it was.")
    also_deleted: list[MemoryItem]


class HistoryItem(BaseModel):
    id: int
    memory_id: str
    event: Event
    old_memory: str | None
    new_memory: str | None
    actor: str = Field(description="What made the change, e.g. `api:add/fast`.")
    created_at: datetime
    details: dict[str, Any]


class HistoryReply(BaseModel):
    results: list[HistoryItem] = Field(description="Oldest first.")


class DeleteAllReply(BaseModel):
    deleted: int


class ResetReply(BaseModel):
    reset: Literal[True]


class ContextItemReply(BaseModel):
    id: str
    tag: str = Field(description="The short id the item's line starts with.")
    kind: MemoryKind
    section: str
    text: str
    lead: str = Field(
        description="The start of text before the memory's words: a turn's date and speaker, "
        '"(2024-05-01) Ana: "; empty for other kinds.'
    )
    score: float
    tokens: int
    truncated: bool


class ContextReply(BaseModel):
    text: str = Field(description="The block to put in a prompt.")
    items: list[ContextItemReply]
    tokens: int
    budget: int
    tokenizer: str
    dropped: int = Field(description="Candidates left out for lack of room.")


class DeleteUserReply(BaseModel):
    deleted: int
    user_id: str


class ApiKeyReply(BaseModel):
    """An API key's record (never its secret)."""

    id: str
    role: Literal["admin", "service", "user"]
    tenant: str
    user_id: str | None
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


class NewKeyReply(ApiKeyReply):
    key: str = Field(description="The key itself: shown this once.")


class KeyListReply(BaseModel):
    results: list[ApiKeyReply]
