"""Routes compatible with mem0's open-source REST server (its ``server/main.py``).

Same paths, field names and response shapes, so a mem0 client can point at
memoryd unchanged:

- items are ``{"id", "memory", "hash", "metadata", "score", "created_at",
  "updated_at"}`` plus ``user_id``/``agent_id``/``run_id``/``actor_id``/``role``
  when set; ``metadata`` is ``null`` when empty, ``score`` only set by search;
- ``POST /memories`` answers ``{"results": [{"id", "memory", "event"}]}``, with
  mem0's ``NONE`` for a duplicate, plus ``mode`` (always ``"fast"``) and a
  ``notice`` when mem0's LLM extraction (``infer``, on by default) was asked
  for: it needs an LLM, so messages are stored verbatim instead (as mem0 stores them without
  its LLM: all but the system messages, the app's prompt); ``timestamp`` is
  kept as the messages' time; ``memory_type`` and ``expiration_date`` (procedural and
  expiring memories, which memoryd lacks) are refused (501) instead of being ignored;
- update, delete, delete-all and reset answer with mem0's ``{"message": ...}``;
- history is a plain list of mem0 history rows.

Where mem0 answers 400 or 500 (missing scope, unknown id) memoryd answers as
on ``/v1``: 422 naming ``user_id``, 404, in the common error shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from memoryd.auth.bound import own_user
from memoryd.errors import InvalidInputError, NotSupportedError
from memoryd.ingest.inputs import normalise_messages
from memoryd.memory import AsyncMemory
from memoryd.models import AddResult, AddResults, Event, HistoryEntry, MemoryRecord, Scope, SearchHit
from memoryd.pipeline.events import AddPayload, EventStatus
from memoryd.server.access import add_once, principal_of
from memoryd.server.health import AddingMemoryDep, MemoryDep, PipelineDep
from memoryd.server.responses import answers
from memoryd.server.responses_mem0 import (
    Mem0AddReply,
    Mem0HistoryReply,
    Mem0Item,
    Mem0ListReply,
    Mem0Message,
    Mem0PendingReply,
)
from memoryd.server.routes_v1 import (
    CONFLICT_RESPONSE,
    ERROR_RESPONSES,
    MemoryId,
    Scoped,
    no_arguments,
    reset_store,
    scope_in_query,
    unique_keys,
)
from memoryd.server.schemas import (
    Mem0AddRequest,
    Mem0ListQuery,
    Mem0SearchRequest,
    Mem0UpdateRequest,
    ScopeArgs,
)

__all__ = ["mem0_history_row", "mem0_item", "router"]

FAST_MODE_NOTICE = (
    "infer=true (LLM fact extraction) needs an LLM; none is configured (set MEMORYD_LLM_MODEL), "
    "so the messages were stored as given (fast mode)"
)
MEM0_SEARCH_LIMIT = 20  # mem0's default top_k (within limits.max_limit)
_SCOPE_KEYS: tuple[Literal["user_id", "agent_id", "run_id"], ...] = ("user_id", "agent_id", "run_id")

router = APIRouter(tags=["mem0-compatible"], responses=ERROR_RESPONSES, dependencies=[Depends(unique_keys)])


def _event(event: Event) -> str:
    return "NONE" if event is Event.NOOP else event.value


def mem0_item(record: MemoryRecord, score: float | None = None) -> dict[str, Any]:
    """One memory in mem0's ``MemoryItem`` shape."""
    full = record.to_dict()
    item: dict[str, Any] = {
        "id": full["id"],
        "memory": full["memory"],
        "hash": full["hash"],
        "metadata": full["metadata"] or None,
        "score": score,
        "created_at": full["created_at"],
        "updated_at": full["updated_at"],
    }
    promoted = [(k, full[k]) for k in _SCOPE_KEYS] + [("actor_id", full["actor"]), ("role", full["role"])]
    item.update((key, value) for key, value in promoted if value is not None)
    return item


def _add_row(result: AddResult) -> dict[str, Any]:
    row: dict[str, Any] = {"id": result.id, "memory": result.text, "event": _event(result.event)}
    if result.previous is not None:
        row["previous_memory"] = result.previous
    return row


def mem0_history_row(entry: HistoryEntry, created_at: str | None = None) -> dict[str, Any]:
    """One change in the shape of mem0's history table: as mem0's, ``created_at`` is when the
    memory was created (``created_at``; default: this change's time) and ``updated_at`` when
    this change was made, except for the ``ADD`` that created it (null)."""
    full = entry.to_dict()
    return {
        "id": str(full["id"]),
        "memory_id": full["memory_id"],
        "old_memory": full["old_memory"],
        "new_memory": full["new_memory"],
        "event": _event(entry.event),
        "created_at": created_at or full["created_at"],
        "updated_at": None if entry.event is Event.ADD else full["created_at"],
        "is_deleted": entry.event is Event.DELETE,
        "actor_id": None,
        "role": None,
    }


def _lift_scope(scope: ScopeArgs, filters: dict[str, Any] | None) -> tuple[ScopeArgs, dict[str, Any] | None]:
    """mem0 v2 passes ids inside ``filters`` (``{"user_id": "ana", ...}``, or as conditions of a
    top-level ``AND``): an id equal to one value becomes the scope when the request gives none.
    ``"*"`` (any value) is a condition, not an id: it stays in the filter. An id given both ways
    with two values is refused naming the filter's (it matched nothing, silently)."""
    if not filters:
        return scope, filters
    rest = dict(filters)
    lifted = ScopeArgs(**scope)

    def take(key: str, value: Any, prefix: str) -> bool:
        if key not in _SCOPE_KEYS or not isinstance(value, str) or value == "*":
            return False
        if lifted[key] is not None and lifted[key] != value:
            where = f"{prefix}{key}"
            message = f"{where} ({value!r}) and {key} ({lifted[key]!r}) name two scopes: give one of them"
            raise InvalidInputError(message, field=where)
        lifted[key] = value
        return True

    for key in _SCOPE_KEYS:
        if take(key, rest.get(key), "filters."):
            del rest[key]
    both = rest.get("AND")
    if isinstance(both, list):

        def lifts(i: int, c: Any) -> bool:
            return isinstance(c, dict) and len(c) == 1 and take(*next(iter(c.items())), f"filters.AND.{i}.")

        kept = [c for i, c in enumerate(both) if not lifts(i, c)]
        if len(kept) != len(both):
            if kept:
                rest["AND"] = kept
            else:
                del rest["AND"]
    return lifted, rest or None


# Built-in fields under the names mem0's items give them (an item's speaker is its ``actor_id``).
_MEM0_FIELDS = {"actor_id": "actor"}


def _memoryd_fields(filters: Any, path: str = "filters") -> Any:
    """``filters`` with mem0's names of built-in fields as memoryd's, at any depth of ``AND``,
    ``OR`` and ``NOT``: a filter on ``actor_id`` matched a metadata key no memory has (nothing,
    silently). The two names of one field side by side are refused."""
    if isinstance(filters, list):
        return [_memoryd_fields(c, f"{path}.{i}") for i, c in enumerate(filters)]
    if not isinstance(filters, dict):
        return filters
    given: dict[str, Any] = filters
    out: dict[str, Any] = {}
    for key, value in given.items():
        name = _MEM0_FIELDS.get(key, key)
        if name != key and name in filters:
            message = f"{path}.{key} and {path}.{name} name the same field: give one of them"
            raise InvalidInputError(message, field=f"{path}.{key}")
        logical = key.lstrip("$").upper() in ("AND", "OR", "NOT")
        out[name] = _memoryd_fields(value, f"{path}.{key}") if logical else value
    return out


_UNSUPPORTED = {"memory_type": "procedural memory", "expiration_date": "expiring memories"}

# mem0's platform names for the states of an asynchronous add.
_MEM0_STATUS = {
    EventStatus.QUEUED: "PENDING",
    EventStatus.PROCESSING: "PENDING",
    EventStatus.FAILED: "PENDING",
    EventStatus.DONE: "SUCCEEDED",
    EventStatus.DEAD_LETTERED: "FAILED",
}


_QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"model": Mem0PendingReply, "description": "Queued (PENDING): see /v1/events/{event_id}"},
    **CONFLICT_RESPONSE,
}


@router.post(
    "/memories", summary="Create memories (mem0)", **answers(Mem0AddReply | Mem0PendingReply, more=_QUEUED)
)
async def add(
    body: Mem0AddRequest, memory: AddingMemoryDep, pipeline: PipelineDep, response: Response, request: Request
) -> dict[str, Any]:
    """Store messages. With ``infer`` (mem0's default) and an LLM configured, facts are extracted
    and reconciled (fine mode); otherwise the messages are stored as given (fast mode), all but
    the system ones, as mem0 stores them without its LLM (the app's prompt is no memory).

    With the async pipeline on, the add is queued (202) and answered as mem0's platform answers
    an asynchronous add: ``{"results": [{"message", "status": "PENDING", "event_id"}]}``. With it
    off, an add given an ``event_id`` is applied once under it, as ``/v1/memories`` applies it: the
    same add again is answered as a duplicate event (nothing stored again), another under the id 409."""
    unsupported = body.unsupported()
    if unsupported is not None:
        raise NotSupportedError(
            f"{unsupported} ({_UNSUPPORTED[unsupported]}) is a mem0 feature memoryd does not have: "
            "leave it out to store the messages as memories",
            field=unsupported,
        )
    fine = body.infer is not False and memory.router is not None
    mode = "fine" if fine else "fast"
    messages = body.messages if fine else _without_system(request, body, memory)
    if messages is None and body.messages is not None:  # a system prompt alone: nothing to store
        return {"results": [], "mode": mode} | ({} if body.infer is False else {"notice": FAST_MODE_NOTICE})
    event_id = None
    if pipeline is None and body.event_id is None:
        results = await memory.add(
            messages, **body.scope(), metadata=body.metadata, timestamp=body.timestamp, mode=mode
        )
    else:
        payload = AddPayload(
            messages, **body.scope(), metadata=body.metadata, timestamp=body.timestamp, mode=mode
        )
        if pipeline is not None:
            submission = await pipeline.submit_add(memory, payload, event_id=body.event_id, source="api:mem0")
        else:  # an id given: applied once under it, as /v1/memories applies it
            submission = await add_once(request, memory, payload, body.event_id or "")
        if submission.results is None:  # queued, or a duplicate of a known event
            if submission.accepted:
                response.status_code = 202
            message = (
                "duplicate event: already submitted" if submission.duplicate else "queued for processing"
            )
            row = {
                "message": message,
                "status": _MEM0_STATUS[submission.status],
                "event_id": submission.event_id,
            }
            return {"results": [row]}
        results, event_id = submission.results, submission.event_id
    return _mem0_reply(results, body.infer is not False and not fine, event_id)


def _is_system(message: Any) -> bool:
    return isinstance(message, Mapping) and message.get("role") == "system"


def _without_system(request: Request, body: Mem0AddRequest, memory: AsyncMemory) -> Any:
    """``body.messages`` less its system messages (``None``: there were only system messages).
    When there is one to leave out, the scope and the messages are read first, as the add reads
    them: a missing scope is refused even for a system prompt alone, and a bad message is named
    at its place in what the caller sent."""
    given = body.messages
    listed = [given] if isinstance(given, Mapping) else given
    if not isinstance(listed, list) or not any(_is_system(m) for m in listed):
        return given
    scope = body.scope()
    key_user = principal_of(request).user_id
    if key_user is not None:  # a user key's adds are its own user's, named or not
        scope["user_id"] = own_user(key_user, scope["user_id"])
    Scope(**scope).require()
    normalise_messages(listed, memory.settings.limits)
    kept = [m for m in listed if not _is_system(m)]
    return kept or None


def _mem0_reply(results: AddResults, notice: bool, event_id: str | None) -> dict[str, Any]:
    reply: dict[str, Any] = {"results": [_add_row(r) for r in results], "mode": results.mode}
    if results.relations is not None:
        reply["relations"] = results.relations
    if notice:
        reply["notice"] = FAST_MODE_NOTICE
    if results.llm is not None:  # fine mode: its calls, and whether it fell back to episodes only
        reply["llm"] = results.llm.to_dict()
        if results.llm.fallback:
            reply["notice"] = results.llm.fallback
    if event_id is not None:
        reply["event_id"] = event_id
    return reply


@router.get("/memories", summary="Get memories (mem0)", **answers(Mem0ListReply))
async def get_all(query: Annotated[Mem0ListQuery, Query()], memory: MemoryDep) -> dict[str, Any]:
    """A scope's memories, newest first (at most ``limit``, or mem0 v2's ``top_k``; 100 by default
    as in mem0)."""
    limit = _limit(query.limit, query.top_k, memory.settings.limits.max_limit)
    page = await memory.get_all(**query.scope(), limit=limit)
    return {"results": [mem0_item(m) for m in page.items]}


@router.get("/memories/{memory_id}", summary="Get a memory (mem0)", **answers(Mem0Item))
async def get(memory_id: MemoryId, scope: Scoped, memory: MemoryDep) -> dict[str, Any]:
    return mem0_item(await memory.get(memory_id, **scope.scope()))


@router.post("/search", summary="Search memories (mem0)", **answers(Mem0ListReply))
async def search(body: Mem0SearchRequest, memory: MemoryDep) -> dict[str, Any]:
    """Search a scope; ``limit`` or ``top_k`` caps the results (20 by default, as mem0's ``top_k``),
    ``threshold`` is a minimum similarity; in ``filters`` the speaker is ``actor_id``, as items name it.

    Each hit's ``score`` is, as mem0's, its cosine similarity to the query: what ``threshold`` is
    compared with (the order is memoryd's hybrid ranking, ``/v1/memories/search``'s score)."""
    scope, filters = _lift_scope(body.scope(), body.filters)
    filters = _memoryd_fields(filters)
    ceiling = memory.settings.limits.max_limit
    limit = _limit(body.limit, body.top_k, ceiling)
    hits = await memory.search(
        body.query,
        **scope,
        filters=filters,
        limit=min(MEM0_SEARCH_LIMIT, ceiling) if limit is None else limit,
        threshold=body.threshold,
        explain=True,
    )
    return {"results": [mem0_item(h.memory, _similarity(h)) for h in hits]}


def _limit(limit: int | None, top_k: int | None, ceiling: int) -> int | None:
    """``limit``, or its alias ``top_k``: a ``top_k`` out of range is refused even beside a valid
    ``limit``, and the two with different values are refused (keeping one would answer another
    number of results than the caller may have meant)."""
    if top_k is not None and not 1 <= top_k <= ceiling:
        raise InvalidInputError(f"top_k must be an integer from 1 to {ceiling}", field="top_k")
    if limit is not None and top_k is not None and limit != top_k:
        message = f"limit ({limit}) and top_k ({top_k}) both name the number of results: give one of them"
        raise InvalidInputError(message, field="top_k")
    return limit if limit is not None else top_k


def _similarity(hit: SearchHit) -> float:
    cosine = (hit.explain or {}).get("dense_cosine")
    return hit.score if cosine is None else float(cosine)


@router.put("/memories/{memory_id}", summary="Update a memory (mem0)", **answers(Mem0Message))
async def update(
    memory_id: MemoryId, body: Mem0UpdateRequest, scope: Scoped, memory: MemoryDep
) -> dict[str, str]:
    """Body ``{"text": ..., "metadata": {...}}`` (``data`` or ``memory`` also name the text).

    As mem0's, ``metadata`` is merged into the memory's: the keys given are set, the others kept
    (``PATCH /v1/memories/{id}`` replaces it whole)."""
    await memory.update(memory_id, body.text, metadata=body.metadata, merge_metadata=True, **scope.scope())
    return {"message": "Memory updated successfully!"}


@router.get("/memories/{memory_id}/history", summary="Get memory history (mem0)", **answers(Mem0HistoryReply))
async def history(memory_id: MemoryId, scope: Scoped, memory: MemoryDep) -> list[dict[str, Any]]:
    """Every change, oldest first, as mem0's rows: each ``created_at`` is the memory's creation,
    ``updated_at`` the time of the change (null for the ``ADD``)."""
    entries = await memory.history(memory_id, **scope.scope())
    created = entries[0].created_at.isoformat() if entries else None
    return [mem0_history_row(e, created) for e in entries]


@router.delete("/memories/{memory_id}", summary="Delete a memory (mem0)", **answers(Mem0Message))
async def delete(memory_id: MemoryId, scope: Scoped, memory: MemoryDep) -> dict[str, str]:
    await memory.delete(memory_id, **scope.scope())
    return {"message": "Memory deleted successfully"}


@router.delete(
    "/memories",
    summary="Delete all memories (mem0)",
    dependencies=[Depends(scope_in_query)],
    **answers(Mem0Message),
)
async def delete_all(scope: Scoped, memory: MemoryDep) -> dict[str, str]:
    """Delete every memory of the scope; a scope is required."""
    await memory.delete_all(**scope.scope())
    return {"message": "All relevant memories deleted"}


@router.post(
    "/reset",
    summary="Reset all memories (mem0)",
    dependencies=[Depends(no_arguments)],
    **answers(Mem0Message),
)
async def reset(memory: MemoryDep, pipeline: PipelineDep, request: Request) -> dict[str, str]:
    await reset_store(request, pipeline, memory)
    return {"message": "All memories reset"}


@router.post("/configure", include_in_schema=False)  # not a route of memoryd's: only says why
async def configure() -> None:
    """mem0's server takes a new configuration here at run time; memoryd reads its configuration
    once, when it starts (a TOML file, ``MEMORYD_*`` variables): refused (501), nothing changed."""
    raise NotSupportedError(
        "memoryd reads its configuration when it starts (a TOML file or MEMORYD_* variables; see "
        "`memoryd config show`), not over HTTP: set it there and restart the server; nothing was changed",
        field="config",
    )


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    """Like mem0's server: the root redirects to the API documentation."""
    return RedirectResponse(url="/docs")
