"""Request and error schemas shared by both route families (``/v1`` and mem0's).

Pydantic checks shapes and JSON types (strictly: ``"5"`` is not an integer,
``1`` is not a boolean); the memory core checks meanings and limits (empty
text, ``limit`` above the configured maximum, filter syntax), so each rule
lives in one place. ``messages`` is passed to the core untouched: it accepts a
string, one message object or a list of them, and names the offending item
(``messages.2.content``) itself.

Bodies of ``/v1`` routes reject unknown fields; mem0-compatible bodies ignore
them, as mem0's own server does. No string anywhere in a body may hold a lone
UTF-16 surrogate (``"\\ud800"`` is valid JSON but not text), no number may be out of a float's
range (``1e400`` is read as infinity, which no JSON answer can hold), and no field may nest
more than ``MAX_NESTING`` levels of objects and lists (metadata that deep could be stored, but
no response holding it could be written).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, TypedDict

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from memoryd.errors import InvalidInputError
from memoryd.ingest.inputs import MAX_NESTING
from memoryd.unicode import is_unicode_text

__all__ = [
    "AddRequest",
    "AgentTreeQuery",
    "ContextRequest",
    "ErrorBody",
    "EventQuery",
    "ListQuery",
    "ListRequest",
    "Mem0AddRequest",
    "Mem0ListQuery",
    "Mem0SearchRequest",
    "Mem0UpdateRequest",
    "ScopeArgs",
    "ScopeQuery",
    "SearchRequest",
    "TreeQuery",
    "UpdateRequest",
    "UsersQuery",
    "check_text",
]

_ROLES = ["user", "assistant", "system", "tool"]
_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["content"],
    "properties": {
        "content": {"type": "string"},
        "role": {"type": "string", "enum": _ROLES, "default": "user"},
        "name": {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]},
        "id": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        "timestamp": {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}, {"type": "null"}]
        },
    },
}
Messages = Annotated[
    Any,
    WithJsonSchema(
        {
            "title": "Messages",
            "description": "A string, one message object, or a list of strings and message objects.",
            "anyOf": [
                {"type": "string"},
                _MESSAGE_SCHEMA,
                {"type": "array", "items": {"anyOf": [{"type": "string"}, _MESSAGE_SCHEMA]}},
            ],
        }
    ),
]
Time = Annotated[
    str | float | None,
    Field(description="ISO 8601 (e.g. 2024-05-01T10:00:00Z) or epoch seconds."),
]
Filters = Annotated[
    dict[str, Any] | None,
    Field(description='A filter expression, e.g. {"topic": "travel", "created_at": {"gte": "2024-01-01"}}.'),
]


def check_text(value: Any, path: str, depth: int = 0) -> None:
    """Raise :class:`InvalidInputError` naming ``path`` if any string in ``value``
    (keys included) holds a lone surrogate, which no store can encode, or if ``value``
    nests more than :data:`MAX_NESTING` levels: such a value could be stored, but no
    response holding it could be written (JSON encoders stop far above this, at a few hundred).
    A number beyond a float's range (``1e400``, read as infinity) is refused too: in a filter it
    compared as infinity and silently matched everything or nothing."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"{path} is out of range: {value}", field=path)
    if isinstance(value, str):
        if not is_unicode_text(value):
            raise InvalidInputError(f"{path} is not valid Unicode text (lone surrogate)", field=path)
        return
    if not isinstance(value, dict | list):
        return
    if depth >= MAX_NESTING:
        message = f"{path} nests more than {MAX_NESTING} levels of objects and lists"
        raise InvalidInputError(message, field=path)
    if isinstance(value, dict):
        for key, item in value.items():
            check_text(key, path)
            check_text(item, f"{path}.{key}", depth + 1)
    else:
        for i, item in enumerate(value):
            check_text(item, f"{path}.{i}", depth + 1)


class _Body(BaseModel):
    """A JSON request body: strict JSON types, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                check_text(key, "body")  # a field's name too: an unknown one is refused naming it
                check_text(value, str(key))
        return data


class _Mem0Body(_Body):
    """A mem0-compatible body: like mem0's server, unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)


class ScopeArgs(TypedDict):
    """The scope keywords every :class:`AsyncMemory` call takes."""

    user_id: str | None
    agent_id: str | None
    run_id: str | None


class _Scope(BaseModel):
    user_id: str | None = Field(None, description="Whose memories: at least one of the three ids.")
    agent_id: str | None = None
    run_id: str | None = None

    def scope(self) -> ScopeArgs:
        return ScopeArgs(user_id=self.user_id, agent_id=self.agent_id, run_id=self.run_id)


class ScopeQuery(_Scope):
    """``?user_id=&agent_id=&run_id=``: required for listing and bulk deletes,
    optional on routes by id, where it hides memories of other scopes."""

    model_config = ConfigDict(extra="forbid")


class EventQuery(BaseModel):
    """Query string of ``GET /v1/events/{event_id}``."""

    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(
        None,
        description="The user whose user-bound key gave the id (its ids are its own); a user key's own "
        "user, always.",
    )


class UsersQuery(BaseModel):
    """Query string of ``GET /v1/users``."""

    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(None, description="Only this user's rows (one per agent).")


class AgentTreeQuery(BaseModel):
    """Query string of ``GET /v1/agents/{agent_id}/tree``."""

    model_config = ConfigDict(extra="forbid")
    episodes: int = Field(20, ge=0, le=10_000, description="Turns shown per segment and session.")
    long_term: int = Field(
        50, ge=0, le=10_000, description="Memories shown per long-term group, most recently updated first."
    )
    segments: int = Field(50, ge=0, le=10_000, description="Segments shown, hottest first, in their topics.")


class TreeQuery(AgentTreeQuery):
    """Query string of ``GET /v1/users/{user_id}/tree``."""

    agent_id: str | None = Field(None, description="The agent, as GET /v1/users lists it.")


class Mem0ListQuery(_Scope):
    """Query string of mem0's ``GET /memories``."""

    limit: int | None = Field(None, description="At most this many memories (default 100, as in mem0).")
    top_k: int | None = Field(None, description="Alias of limit (mem0 v2).")


class _ListFields(_Scope):
    limit: int | None = Field(None, description="Page size: default 100, at most limits.max_limit.")
    offset: int = 0
    include_expired: bool = Field(False, description="Also list superseded memories.")


class ListQuery(_ListFields):
    """Query string of ``GET /v1/memories``; ``filters`` is JSON text."""

    model_config = ConfigDict(extra="forbid")
    as_of: str | None = Field(None, description="ISO 8601: the memories valid at that time.")
    filters: str | None = Field(None, description='JSON filter expression, e.g. {"topic":"travel"}.')


class ListRequest(_Body, _ListFields):
    """Body of ``POST /v1/memories/list``; ``filters`` is a JSON object."""

    as_of: Time = None
    filters: Filters = None


EventId = Annotated[
    str | None,
    Field(
        description="Idempotency key of the async pipeline (1-128 of letters, digits, ._:@-): a second "
        "add with the same id is a NOOP reporting the first one's status. Generated when absent."
    ),
]


class AddRequest(_Body, _Scope):
    """Body of ``POST /v1/memories``."""

    messages: Messages
    metadata: dict[str, Any] | None = None
    timestamp: Time = None
    mode: str | None = Field(None, description="'fast' (default): store each message as an episode.")
    event_id: EventId = None


class SearchRequest(_Body, _Scope):
    """Body of ``POST /v1/memories/search``."""

    query: str
    filters: Filters = None
    limit: int | None = Field(None, description="Results to return (default search.default_limit).")
    threshold: float | None = Field(None, description="Minimum cosine similarity, -1 to 1.")
    as_of: Time = None
    explain: bool = Field(False, description="Include each hit's score parts.")
    graph_hops: int = Field(
        0, description="1 or 2: also return the graph relations around entities the query names."
    )
    reference_time: Time = None  # the asker's now, for relative dates in the query ("a week ago")


class ContextRequest(_Body):
    """Body of ``POST /v1/context``: a memory block for the next prompt of ``user_id`` (or of an
    agent or a session of no user)."""

    query: str
    user_id: str | None = Field(None, description="Whose memories (or give agent_id or run_id).")
    agent_id: str | None = None
    run_id: str | None = Field(None, description="The current session: its recent turns are included.")
    token_budget: int | None = Field(
        None, description="At most this many tokens (default context.token_budget)."
    )
    exclude: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Texts the prompt already holds: memories repeating one are left out.",
    )
    # the asker's now: for relative dates in the query ("last Sunday"); its offset dates the turns
    reference_time: Time = None


class UpdateRequest(_Body):
    """Body of ``PATCH /v1/memories/{id}``: new text, new metadata, or both."""

    text: str | None = None
    metadata: dict[str, Any] | None = None
    merge_metadata: bool = Field(
        False, description="Set the metadata keys given and keep the others (default: replace the metadata)."
    )


class Mem0AddRequest(_Mem0Body, _Scope):
    """Body of mem0's ``POST /memories``."""

    messages: Messages
    metadata: dict[str, Any] | None = None
    infer: bool | None = Field(
        None,
        description="mem0's LLM extraction (default true): fine mode when an LLM is configured, "
        "else the messages are stored as given.",
    )
    event_id: EventId = None
    timestamp: Time = None  # mem0's platform: when the messages were said (memoryd's event_time)
    # mem0 features memoryd does not have: given, they are refused (501) rather than ignored,
    # since ignoring them would store something else than what was asked.
    memory_type: Any = Field(
        None, description="mem0's procedural memory: not supported (refused with 501 when given)."
    )
    expiration_date: Any = Field(
        None, description="mem0's expiring memories: not supported (refused with 501 when given)."
    )

    def unsupported(self) -> str | None:
        """The first field given that asks for a mem0 feature memoryd lacks."""
        return next((f for f in ("memory_type", "expiration_date") if getattr(self, f) is not None), None)


class Mem0SearchRequest(_Mem0Body, _Scope):
    """Body of mem0's ``POST /search``; ids may also sit in ``filters`` (mem0 v2)."""

    query: str
    filters: Filters = None
    limit: int | None = None
    top_k: int | None = Field(None, description="Alias of limit (mem0 v2); default 20, as mem0's.")
    threshold: float | None = None


class Mem0UpdateRequest(_Mem0Body):
    """Body of mem0's ``PUT /memories/{id}``: ``text`` (or ``data``/``memory``) and ``metadata``."""

    text: str | None = Field(
        None,
        validation_alias=AliasChoices("text", "data", "memory"),
        description="The new text; mem0's clients send it as `data` (or `memory`), both accepted.",
    )
    metadata: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_text(cls, data: Any) -> Any:
        """The text under two names with two values is refused: keeping one would store what the
        caller may not have meant. A name given null is no text: it does not hide the other."""
        if isinstance(data, dict):
            given = [name for name in ("text", "data", "memory") if data.get(name) is not None]
            if len({repr(data[name]) for name in given}) > 1:
                names = " and ".join(given)
                raise InvalidInputError(f"{names} name the same text: give one of them", field=given[1])
            if given:
                data = {k: v for k, v in data.items() if k in given or k not in ("text", "data", "memory")}
        return data


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. invalid_input, not_found.")
    message: str
    field: str | None = Field(None, description="The offending field path, e.g. messages.0.content.")
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"code", "message", "field"?}}``."""

    error: ErrorDetail
