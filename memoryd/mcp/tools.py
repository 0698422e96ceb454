"""The MCP tools: what an agent may do with its memory, and how each maps onto :class:`AsyncMemory`.

Every tool acts in a scope (``user_id`` / ``agent_id`` / ``run_id``). The server can be
*bound* to part of one (``memoryd mcp --user-id alice``): bound fields are fixed, left out
of the tools' input schemas, and a call that names another value is refused. Over HTTP a user
API key binds ``user_id`` the same way; naming another user then is a ``not_found`` naming
``user_id``, worded as the REST API's 404 (another user's memories are as absent as a
memory that does not exist), not a refusal of this server's binding. Fields left
unbound may be given per call (a session's ``run_id``, say). Get, update, delete and
history act only on memories of the call's scope, so a bound server never reaches
another user's memories.

Results are compact JSON (the fields an agent reasons with: no hashes, no validity
bookkeeping unless a memory was superseded).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from memoryd.auth.bound import own_user
from memoryd.errors import InvalidInputError
from memoryd.ingest.inputs import MAX_OFFSET, MAX_TOKEN_BUDGET
from memoryd.memory import AsyncMemory
from memoryd.models import HistoryEntry, MemoryRecord, Scope

__all__ = [
    "SCOPE_FIELDS", "Args", "Handler", "Tool", "added", "bound_scope", "brief", "build_tools", "scope_of",
]  # fmt: skip

SCOPE_FIELDS = ("user_id", "agent_id", "run_id")
_SCOPE_TEXT = {
    "user_id": "The user whose memories these are.",
    "agent_id": "The agent whose memories these are.",
    "run_id": "The conversation / session.",
}

Args = dict[str, Any]
Handler = Callable[[AsyncMemory, Args], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    """One MCP tool: its listing (name, description, JSON Schema of its input, hints) and handler."""

    name: str
    title: str
    description: str
    properties: dict[str, Any]
    required: tuple[str, ...]
    handler: Handler
    read_only: bool = True
    destructive: bool = False
    scoped: bool = True  # takes the scope fields

    def listing(self, bound: Mapping[str, str]) -> dict[str, Any]:
        """The ``tools/list`` entry; bound scope fields are not offered."""
        properties = dict(self.properties)
        if self.scoped:
            for name in SCOPE_FIELDS:
                if name not in bound:
                    properties[name] = {"type": "string", "description": _SCOPE_TEXT[name]}
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": {
                "type": "object",
                "properties": properties,
                "required": list(self.required),
                "additionalProperties": False,
            },
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.read_only,
                "destructiveHint": self.destructive,
                "idempotentHint": self.read_only,
                "openWorldHint": False,
            },
        }

    def arguments(self, given: Any, bound: Mapping[str, str], *, key_user: str | None = None) -> Args:
        """The call's arguments checked against the listing, with the bound scope filled in.
        ``key_user``: the user an API key (not the server) binds ``user_id`` to; naming another
        is a ``not_found`` naming ``user_id``, as on the REST API."""
        if given is None:
            given = {}
        if not isinstance(given, dict):
            raise InvalidInputError("arguments must be an object", field="arguments")
        allowed = set(self.properties) | (set(SCOPE_FIELDS) if self.scoped else set())
        unknown = sorted(set(given) - allowed)
        if unknown:
            offered = ", ".join(sorted(allowed - set(bound)))  # as tools/list offers them
            raise InvalidInputError(
                f"unknown argument {unknown[0]!r} for {self.name}; allowed: {offered}", field=unknown[0]
            )
        # null is "not given", for every argument alike (hosts whose function calls carry each
        # optional field, null when unset, as OpenAI's strict mode does): never an offset of None
        given = {name: value for name, value in given.items() if value is not None}
        missing = [name for name in self.required if name not in given]
        if missing:
            raise InvalidInputError(f"{self.name} needs {missing[0]!r}", field=missing[0])
        args = {name: _whole(value, self.properties.get(name)) for name, value in given.items()}
        if self.scoped:
            for name, value in bound.items():
                if name in given and given[name] != value:
                    if name == "user_id" and key_user is not None:
                        own_user(key_user, given[name])  # a 404 naming user_id, as REST's
                    raise InvalidInputError(
                        f"this server is bound to {name}={value!r}; it cannot act for {given[name]!r}",
                        field=name,
                    )
                args[name] = value
        return args


def _whole(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """``value`` as an ``int`` when the schema asks for an integer and it is a float with no
    fraction: JSON Schema's ``integer`` is any number whose fractional part is zero, so ``5.0``
    is a valid ``limit`` (a host whose model hands numbers over as doubles, as Gemini's function
    calls do, sends it so); the memory's own checks take ``int`` only."""
    integer = schema is not None and schema.get("type") == "integer"
    return int(value) if integer and isinstance(value, float) and value.is_integer() else value


def bound_scope(user_id: str | None, agent_id: str | None, run_id: str | None) -> dict[str, str]:
    """The scope fields a server is bound to (those given); an empty one is refused (a host's
    ``--user-id "${USER_ID}"`` with the variable unset), and so is one no scope may hold (too
    long, a control character, not UTF-8), not a server whose every call fails."""
    values = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
    for name, value in values.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidInputError(f"the server's {name} must be a non-empty string", field=name)
    Scope(user_id, agent_id, run_id)  # what a call's scope would refuse, refused once here
    return {name: value for name, value in values.items() if value is not None}


def scope_of(args: Args) -> dict[str, Any]:
    """The call's scope fields (``None`` where not given), as keyword arguments."""
    return {name: args.get(name) for name in SCOPE_FIELDS}


def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def brief(record: MemoryRecord) -> dict[str, Any]:
    """A memory as an agent needs it."""
    body: dict[str, Any] = {"id": record.id, "memory": record.text, "kind": record.kind.value}
    for name in ("role", "actor", *SCOPE_FIELDS):
        value = getattr(record, name)
        if value is not None:
            body[name] = value
    if record.event_time is not None:
        body["event_time"] = _time(record.event_time)
    body["created_at"] = _time(record.created_at)
    if record.updated_at != record.created_at:
        body["updated_at"] = _time(record.updated_at)
    if record.metadata:
        body["metadata"] = record.metadata
    if record.valid_to is not None:
        body["valid_to"] = _time(record.valid_to)  # superseded: kept, no longer current
    return body


def _change(entry: HistoryEntry) -> dict[str, Any]:
    return {key: value for key, value in entry.to_dict().items() if value not in (None, {})}


_AS_OF = {
    "anyOf": [{"type": "string"}, {"type": "number"}],
    "description": "What was current then (ISO 8601, or seconds since the epoch): a past home, a "
    "preference since changed. Default: now.",
}
_REFERENCE_TIME = {
    "anyOf": [{"type": "string"}, {"type": "number"}],
    "description": "The asker's now (ISO 8601 with its offset, or seconds since the epoch): 'last "
    "Sunday' and 'yesterday' in the query are read against it, and with an offset the context dates "
    "turns in it. Default: the current time, dates in UTC.",
}


# -- handlers ------------------------------------------------------------------------------
async def _add(mem: AsyncMemory, a: Args) -> dict[str, Any]:
    results = await mem.add(
        a["messages"],
        metadata=a.get("metadata"),
        timestamp=a.get("timestamp"),
        mode=a.get("mode"),
        **scope_of(a),
    )
    return added(results.to_dict())


def added(body: dict[str, Any]) -> dict[str, Any]:
    """An add's answer as ``add_memory`` gives it (run now or through the pipeline): each item
    already names its memory (id, text, kind), so the stored record again would only lengthen
    what the model reads (``get_memory`` gives it)."""
    items = body.get("results")
    if isinstance(items, list):
        body = {**body, "results": [{k: v for k, v in i.items() if k != "record"} for i in items]}
    return body


async def _search(mem: AsyncMemory, a: Args) -> dict[str, Any]:
    hits = await mem.search(
        a["query"],
        filters=a.get("filters"),
        limit=a.get("limit"),
        threshold=a.get("threshold"),
        as_of=a.get("as_of"),
        reference_time=a.get("reference_time"),
        **scope_of(a),
    )
    return {"results": [{**brief(h.memory), "score": round(h.score, 4)} for h in hits]}


async def _context(mem: AsyncMemory, a: Args) -> dict[str, Any]:
    built = await mem.context(
        a["query"],
        user_id=a.get("user_id"),
        agent_id=a.get("agent_id"),
        run_id=a.get("run_id"),
        token_budget=a.get("token_budget"),
        reference_time=a.get("reference_time"),
    )
    return {
        "text": built.text,
        "tokens": built.tokens,
        "budget": built.budget,
        "dropped": built.dropped,
        "ids": [item.id for item in built.items],
    }


async def _list(mem: AsyncMemory, a: Args) -> dict[str, Any]:
    page = await mem.get_all(
        filters=a.get("filters"),
        limit=a.get("limit"),
        offset=a.get("offset", 0),
        as_of=a.get("as_of"),
        include_expired=a.get("include_expired", False),
        **scope_of(a),
    )
    return {
        "results": [brief(m) for m in page.items],
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
    }


async def _get(mem: AsyncMemory, a: Args) -> dict[str, Any]:
    return brief(await mem.get(a["memory_id"], **scope_of(a)))


async def _update(mem: AsyncMemory, a: Args) -> dict[str, Any]:
    done = await mem.update(a["memory_id"], a.get("text"), metadata=a.get("metadata"), **scope_of(a))
    # As PATCH /v1/memories/{id} says it: NOOP when nothing differed, and what the edit changed.
    return {**brief(done.memory), "event": done.event.value, "derived": [r.to_dict() for r in done.derived]}


async def _delete(mem: AsyncMemory, a: Args) -> dict[str, Any]:
    gone = await mem.delete(a["memory_id"], **scope_of(a))
    # As DELETE /v1/memories/{id} counts them, with the memory itself too
    return {
        "deleted": len(gone),
        "id": gone[0].id,
        "memory": brief(gone[0]),
        "also_deleted": [brief(m) for m in gone[1:]],
    }


async def _history(mem: AsyncMemory, a: Args) -> dict[str, Any]:
    entries = await mem.history(a["memory_id"], **scope_of(a))
    return {"history": [_change(e) for e in entries]}


# -- listings ------------------------------------------------------------------------------
_MESSAGE = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "description": "user, assistant, system or tool."},
        "content": {"type": "string"},
        "name": {"type": "string", "description": "The speaker's name, if known."},
    },
    "required": ["role", "content"],
}
_ID = {"type": "string", "description": "The memory's id (from search, list or add)."}
_FILTERS = {
    "type": "object",
    "description": 'Filter on metadata and built-in fields: {"topic": "travel"}, '
    '{"kind": {"in": ["fact", "preference"]}}, {"AND": [...]}, {"OR": [...]}, {"NOT": {...}}.',
}
_METADATA = {"type": "object", "description": "Free metadata to store with the memory."}


def build_tools(
    max_limit: int, *, add: Handler | None = None, search_limit: int = 10, fine: bool = False
) -> dict[str, Tool]:
    """Every tool, by name (``max_limit``: the store's largest page / result count; ``add``:
    how ``add_memory`` stores, when not straight into the memory — the server's async pipeline;
    ``search_limit``: how many hits a search returns by default; ``fine``: an LLM is configured,
    so an add may update, supersede or delete what is stored, and says so: ``destructiveHint``)."""
    limit = {"type": "integer", "minimum": 1, "maximum": max_limit}
    queued = {  # through the async pipeline: an add can be retried safely under its own id
        "event_id": {
            "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$",
            "description": "This add's id in the queue (given back when absent): an add retried "
            "with the same id is stored once.",
        }
    } if add is not None else {}  # fmt: skip
    tools = [
        Tool(
            "add_memory", "Remember",
            "Store what was said: a text, or chat messages. Each message is kept as an episode "
            "(its role, speaker and time); with mode 'fine' and an LLM configured, facts and "
            "preferences are extracted and reconciled with what is already known. Returns what "
            "happened to each item (ADD, or NOOP with the reason).",
            {
                "messages": {"anyOf": [{"type": "string"}, {"type": "array", "items": _MESSAGE}]},
                "metadata": _METADATA,
                "timestamp": {"anyOf": [{"type": "string"}, {"type": "number"}],
                              "description": "When it was said (ISO 8601, or seconds since the epoch); "
                              "default now."},
                "mode": {"type": "string", "enum": ["fast", "fine"]},
                **queued,
            },
            ("messages",), add or _add, read_only=False, destructive=fine,
        ),
        Tool(
            "search_memories", "Recall",
            "Find the memories most relevant to a query (hybrid keyword + semantic search; dates "
            "named in the query favour memories said then). Best first, with scores.",
            {"query": {"type": "string"}, "limit": {**limit, "default": search_limit}, "filters": _FILTERS,
             "threshold": {"type": "number", "minimum": -1, "maximum": 1,
                           "description": "Leave out hits whose cosine similarity to the query is below "
                                          "this (not the fused score the hits show)."},
             "as_of": _AS_OF, "reference_time": _REFERENCE_TIME},
            ("query",), _search,
        ),  # fmt: skip
        Tool(
            "get_context", "Memory context",
            "A prompt-ready memory block for what the user is asking about: their profile, "
            "relevant preferences, relevant memories, and the session's recent turns "
            "(with run_id), within a token budget. Needs user_id, agent_id or run_id.",
            {"query": {"type": "string"},
             "token_budget": {"type": "integer", "minimum": 1, "maximum": MAX_TOKEN_BUDGET,
                              "description": "Default: the server's."},
             "reference_time": _REFERENCE_TIME},
            ("query",), _context,
        ),  # fmt: skip
        Tool(
            "list_memories", "List memories",
            "The memories of the scope, newest first, a page at a time.",
            {"limit": {**limit, "default": min(100, max_limit)},
             "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
             "filters": _FILTERS,
             "as_of": _AS_OF,
             "include_expired": {"type": "boolean", "default": False,
                                 "description": "Also the memories superseded or ended since."}},
            (), _list,
        ),  # fmt: skip
        Tool("get_memory", "Get a memory", "One memory by id.", {"memory_id": _ID}, ("memory_id",), _get),
        Tool(
            "update_memory", "Correct a memory",
            "Change a memory's text and/or metadata; the old text stays in its history. Says "
            "what happened: UPDATE, or NOOP when nothing differed; and, for an edited turn, what "
            "its new text added and what only its old text stated and went (derived).",
            {"memory_id": _ID, "text": {"type": "string"}, "metadata": _METADATA},
            # an edited turn takes with it what only its old text stated (deleted: destructive)
            ("memory_id",), _update, read_only=False, destructive=True,
        ),
        Tool(
            "delete_memory", "Forget a memory",
            "Delete one memory by id (its history keeps the deletion); what only it stated (a "
            "profile fact, a preference) goes with it and is listed.",
            {"memory_id": _ID}, ("memory_id",), _delete, read_only=False, destructive=True,
        ),
        Tool(
            "memory_history", "Memory history",
            "Every change of one memory, oldest first: ADD, UPDATE, DELETE with old and new text.",
            {"memory_id": _ID}, ("memory_id",), _history,
        ),
    ]  # fmt: skip
    return {tool.name: tool for tool in tools}
