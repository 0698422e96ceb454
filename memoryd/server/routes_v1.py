"""The versioned REST API, ``/v1/...``: one thin route per :class:`AsyncMemory` call.

Each route parses its request with a schema from :mod:`memoryd.server.schemas`,
calls the memory and serialises the result with the model's ``to_dict()``; the
schema of that body, for ``/openapi.json``, is in :mod:`memoryd.server.responses`.
Scopes (``user_id``/``agent_id``/``run_id``) are required where the core needs
one (add, list, search, delete all); on routes by id they are optional and,
when given, hide memories of other scopes (404).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from memoryd.auth.bound import may_erase
from memoryd.errors import InvalidFilterError, InvalidInputError
from memoryd.memory import AsyncMemory
from memoryd.pipeline.events import AddPayload
from memoryd.server.access import PipelineView, add_once, principal_of
from memoryd.server.errors import TOO_LONG_NUMBER
from memoryd.server.health import AddingMemoryDep, MemoryDep, PipelineDep
from memoryd.server.json_body import is_json, loads, repeated_key
from memoryd.server.responses import (
    AddReply,
    ContextReply,
    DeleteAllReply,
    DeleteReply,
    DeleteUserReply,
    HistoryReply,
    MemoryItem,
    PageReply,
    QueuedReply,
    ResetReply,
    SearchReply,
    SubmissionReply,
    UpdateReply,
    answers,
)
from memoryd.server.responses_tree import TreeReply, UsersReply
from memoryd.server.schemas import (
    AddRequest,
    AgentTreeQuery,
    ContextRequest,
    ErrorBody,
    ListQuery,
    ListRequest,
    ScopeQuery,
    SearchRequest,
    TreeQuery,
    UpdateRequest,
    UsersQuery,
    check_text,
)

__all__ = [
    "CONFLICT_RESPONSE",
    "ERROR_RESPONSES",
    "MemoryId",
    "Scoped",
    "UserId",
    "filters_from_json",
    "no_arguments",
    "router",
    "scope_in_query",
    "unique_keys",
]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Malformed body (not JSON, not UTF-8)"),
        (401, "No API key, or one that is unknown or revoked (with auth on)"),
        (403, "A key without the right (a user key erasing the store), or a forbidden Origin or Host"),
        (404, "No such memory in this scope"),
        (413, "Body, message or list over its limit"),
        (422, "A field is missing, of the wrong type or out of range; `field` names it"),
        (429, "The key's or its tenant's rate limit: see `Retry-After`"),
        (501, "Feature not available in this release"),
        (503, "Starting, stopping, or storage unavailable"),
    )
}

MemoryId = Annotated[str, Path(description="The memory's id.")]
UserId = Annotated[str, Path(description="The user's id.")]
Scoped = Annotated[ScopeQuery, Query()]


async def unique_keys(request: Request) -> None:
    """Refuse a JSON body naming a key twice in one object (``{"user_id": "a", "user_id": "b"}``):
    a JSON parser keeps the last value, so the write would go where the caller may not have meant
    (422 naming the key's path, e.g. ``user_id`` or ``metadata.k``)."""
    if request.method not in ("POST", "PUT", "PATCH") or not is_json(request.headers.get("content-type", "")):
        return  # not read as JSON (FastAPI refuses such a body where a route takes one)
    try:
        value = loads(await request.body())
    except (ValueError, RecursionError):
        return  # not JSON: FastAPI has refused it already, naming the body
    if (path := repeated_key(value)) is not None:
        message = f"{path} is given more than once in the request body; give it once"
        raise InvalidInputError(message, field=path)


async def no_arguments(request: Request) -> None:
    """Refuse a query parameter or a body with fields on a route that takes none (reset): ignored,
    ``POST /reset?user_id=bob`` erased every user's memories, not bob's."""
    named = next(iter(request.query_params), None)
    body = (await request.body()).strip()
    if named is None and body not in (b"", b"{}", b"null"):
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            value = None
        named = next(iter(value), None) if isinstance(value, dict) else "body"
    if named is not None:
        raise InvalidInputError(
            f"{request.url.path} erases the whole store and takes no {named}: nothing was erased (to erase "
            "one user's memories, send DELETE /memories?user_id=...)",
            field=named,
        )


async def scope_in_query(request: Request) -> None:
    """Refuse a body on a bulk delete, which reads its scope from the query only: ignored, ``DELETE
    /v1/memories`` with ``{"user_id": "bob"}`` under alice's user key erased alice's memories."""
    if not _empty_json(await request.body()):
        raise InvalidInputError(
            f"DELETE {request.url.path} reads its scope from the query (?user_id=&agent_id=&run_id=), "
            "not from a body: nothing was deleted",
            field="body",
        )


def _empty_json(body: bytes) -> bool:
    """Whether ``body`` says nothing: none, or an empty JSON object or null, however spaced (``{ }``)."""
    if not body.strip():
        return True
    try:
        return json.loads(body) in ({}, None)
    except (ValueError, RecursionError):
        return False


router = APIRouter(prefix="/v1", tags=["v1"], responses=ERROR_RESPONSES, dependencies=[Depends(unique_keys)])


def filters_from_json(raw: str | None) -> dict[str, Any] | None:
    """Parse the ``filters`` query parameter (JSON text) into an object."""
    if raw is None or not raw.strip():
        return None
    try:
        value = loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidFilterError(f"filters must be a JSON object: {exc}", field="filters") from exc
    except ValueError as exc:  # Python's cap on the digits of an integer it reads
        raise InvalidFilterError(f"filters hold {TOO_LONG_NUMBER}", field="filters") from exc
    except RecursionError as exc:  # "[[[[..." nested past the parser's stack: not a filter
        raise InvalidFilterError("filters nest too deeply to be a filter", field="filters") from exc
    if not isinstance(value, dict):
        raise InvalidFilterError("filters must be a JSON object", field="filters")
    if (path := repeated_key(value)) is not None:  # {"topic": "a", "topic": "b"} filtered on "b"
        raise InvalidFilterError(
            f"filters.{path} is given more than once; give it once", field=f"filters.{path}"
        )
    check_text(value, "filters")
    return value


CONFLICT_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The `event_id` names another add (its body or user)"},
}
_QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"model": QueuedReply, "description": "Queued: `event_id`, `status` queued; GET /v1/events/{id}"},
    **CONFLICT_RESPONSE,
}


@router.post("/memories", summary="Add memories", **answers(AddReply | SubmissionReply, more=_QUEUED))
async def add(
    body: AddRequest, memory: AddingMemoryDep, pipeline: PipelineDep, response: Response, request: Request
) -> dict[str, Any]:
    """Store messages: one result per input message (``ADD`` with the new id, or ``NOOP`` for a
    duplicate), then, in fine mode, one per extracted fact with what reconciliation did, the LLM
    calls and tokens (``llm``) and the graph changes (``relations``).

    With the async pipeline on, the add is validated and queued instead: 202 with ``event_id``
    and ``status: queued``; the same add again with a known ``event_id`` is a NOOP reporting that
    event's status, another add with it a 409;
    with Redis unreachable it is processed now (``pipeline: bypassed``) or refused (503).
    With it off, an add given an ``event_id`` is applied once as well: the same add again is a
    NOOP (``pipeline: bypassed``, as the pipeline answers a duplicate), another with it a 409."""
    payload = AddPayload(
        body.messages, **body.scope(), metadata=body.metadata, timestamp=body.timestamp, mode=body.mode
    )
    if pipeline is not None:
        submission = await pipeline.submit_add(memory, payload, event_id=body.event_id, source="api:v1")
        if submission.accepted:
            response.status_code = 202
        return submission.to_dict()
    if body.event_id is None:
        results = await memory.add(
            body.messages, **body.scope(), metadata=body.metadata, timestamp=body.timestamp, mode=body.mode
        )
        return results.to_dict()
    done = await add_once(request, memory, payload, body.event_id)
    if done.results is None:  # the same add under its id again: nothing stored again
        return done.to_dict()
    return {**done.results.to_dict(), "event_id": done.event_id}


@router.get("/memories", summary="List memories", **answers(PageReply))
async def list_memories(query: Annotated[ListQuery, Query()], memory: MemoryDep) -> dict[str, Any]:
    """A page of a scope's memories, newest first; ``filters`` is a JSON string."""
    return await _page(memory, query, filters_from_json(query.filters))


@router.post("/memories/list", summary="List memories (filters in the body)", **answers(PageReply))
async def list_memories_post(body: ListRequest, memory: MemoryDep) -> dict[str, Any]:
    """Like ``GET /v1/memories``, with ``filters`` as a JSON object."""
    return await _page(memory, body, body.filters)


async def _page(
    memory: AsyncMemory, args: ListQuery | ListRequest, filters: dict[str, Any] | None
) -> dict[str, Any]:
    page = await memory.get_all(
        **args.scope(),
        filters=filters,
        limit=args.limit,
        offset=args.offset,
        as_of=args.as_of,
        include_expired=args.include_expired,
    )
    return page.to_dict()


@router.post("/memories/search", summary="Search memories", **answers(SearchReply))
async def search(body: SearchRequest, memory: MemoryDep) -> dict[str, Any]:
    """Hybrid (dense + BM25) search within a scope, best first."""
    hits = await memory.search(
        body.query,
        **body.scope(),
        filters=body.filters,
        limit=body.limit,
        threshold=body.threshold,
        as_of=body.as_of,
        explain=body.explain,
        graph_hops=body.graph_hops,
        reference_time=body.reference_time,
    )
    reply: dict[str, Any] = {"results": [h.to_dict() for h in hits]}
    if hits.relations is not None:
        reply["relations"] = [r.to_dict() for r in hits.relations]
    return reply


@router.get("/memories/{memory_id}", summary="Get a memory", **answers(MemoryItem))
async def get(memory_id: MemoryId, scope: Scoped, memory: MemoryDep) -> dict[str, Any]:
    return (await memory.get(memory_id, **scope.scope())).to_dict()


@router.patch("/memories/{memory_id}", summary="Update a memory", **answers(UpdateReply))
async def update(
    memory_id: MemoryId, body: UpdateRequest, scope: Scoped, memory: MemoryDep
) -> dict[str, Any]:
    """Change text and/or metadata; the old text stays in the history. ``event`` says what
    happened: ``UPDATE``, or ``NOOP`` when nothing differed (the history records either).
    ``derived``: what editing a turn's text changed among the memories the rules read in it
    (profile, preferences): ``ADD`` or ``NOOP`` for each statement of the new text, ``DELETE``
    for each that only the old text stated."""
    done = await memory.update(
        memory_id, body.text, metadata=body.metadata, merge_metadata=body.merge_metadata, **scope.scope()
    )
    return done.to_dict()


@router.delete("/memories/{memory_id}", summary="Delete a memory", **answers(DeleteReply))
async def delete(memory_id: MemoryId, scope: Scoped, memory: MemoryDep) -> dict[str, Any]:
    """Remove one memory; its history keeps a DELETE event. ``deleted`` counts it and the rule
    memories (profile, preferences) it alone stated, which go with it: ``memory`` is it as it was,
    ``also_deleted`` lists those."""
    gone = await memory.delete(memory_id, **scope.scope())
    return {"deleted": len(gone), "id": memory_id, "memory": gone[0].to_dict(),
            "also_deleted": [m.to_dict() for m in gone[1:]]}  # fmt: skip


@router.get("/memories/{memory_id}/history", summary="A memory's history", **answers(HistoryReply))
async def history(memory_id: MemoryId, scope: Scoped, memory: MemoryDep) -> dict[str, Any]:
    """Every recorded change, oldest first (kept after deletion)."""
    entries = await memory.history(memory_id, **scope.scope())
    return {"results": [e.to_dict() for e in entries]}


@router.delete(
    "/memories",
    summary="Delete all memories of a scope",
    dependencies=[Depends(scope_in_query)],
    **answers(DeleteAllReply),
)
async def delete_all(scope: Scoped, memory: MemoryDep) -> dict[str, int]:
    """Remove every memory of the scope; a scope is required."""
    return {"deleted": await memory.delete_all(**scope.scope())}


async def forget_pending(
    request: Request,
    pipeline: PipelineView | None,
    user_id: str | None,
    erase: Callable[[int | None], Awaitable[None]],
) -> None:
    """Erase a user (``None``: the whole store) with what is still on its way there (its events in
    the async pipeline, the gateway's queued write-backs and unsaved usage), so nothing is saved
    after the erasure. The gateway's go first, whatever happens next: its queued write-backs and
    unsaved usage are dropped, and its calls in flight keep nothing. Then the queue reads the
    deletion's time and ``erase`` erases the store given it (None without the pipeline: the store
    compares events with it as workers do). The deletion begins with the store's own mark, its
    first write: once that is committed the deletion is marked in the queue at once (workers skip
    the user's events queued before it from then on), and the queue is swept after the store's
    erasure, even one that failed after the mark (the 503 says to send the deletion again). An
    erasure that fails before the mark leaves the pipeline's queued events queued. The store goes
    before the sweep: an add queued after the mark that a worker stores while a long sweep runs is
    a new one, not erased with the user's."""
    # The gateway first: a write-back it is retrying would otherwise enqueue an event after the mark.
    await request.app.state.gateway.forget_user(principal_of(request).tenant, user_id)
    if pipeline is None:
        await erase(None)
    else:
        await pipeline.forget_user(user_id, erase)


@router.post(
    "/reset", summary="Erase everything", dependencies=[Depends(no_arguments)], **answers(ResetReply)
)
async def reset(memory: MemoryDep, pipeline: PipelineDep, request: Request) -> dict[str, bool]:
    """Erase every memory and all history in this store (and what is on its way there)."""
    await reset_store(request, pipeline, memory)
    return {"reset": True}


async def reset_store(request: Request, pipeline: PipelineView | None, memory: Any) -> None:
    """Erase the whole store with what is on its way there (:func:`forget_pending`); a key that
    may not erase it is refused by the store's reset (403)."""

    async def erase(mark: int | None) -> None:
        await memory.reset(queue_mark_ms=mark)  # as a user's deletion: see delete_user below

    if may_erase(principal_of(request).user_id, None):
        await forget_pending(request, pipeline, None, erase)
    else:
        await memory.reset()


@router.post("/context", summary="A memory context for a prompt", **answers(ContextReply))
async def context(body: ContextRequest, memory: MemoryDep) -> dict[str, Any]:
    """A prompt-ready block (profile, preferences, relevant memories, recent turns of ``run_id``)
    within ``token_budget`` tokens, and its items, each with the id its line is tagged with."""
    ctx = await memory.context(
        body.query,
        user_id=body.user_id,
        agent_id=body.agent_id,
        run_id=body.run_id,
        token_budget=body.token_budget,
        exclude=body.exclude,
        reference_time=body.reference_time,
    )
    return ctx.to_dict()


@router.get("/users", summary="Known users and agents", **answers(UsersReply))
async def users(memory: MemoryDep, query: Annotated[UsersQuery, Query()]) -> dict[str, Any]:
    """Every (user_id, agent_id) that owns current memories, with counts by kind, most first; then,
    marked `session_only`, the memories of no user and no agent (added with a `run_id` alone), which
    have no tree: `run_ids` names their sessions, read with `GET /v1/memories?run_id=`."""
    return {"results": await memory.users(user_id=query.user_id)}


@router.delete("/users/{user_id}", summary="Forget a user", **answers(DeleteUserReply))
async def delete_user(
    user_id: UserId, memory: MemoryDep, pipeline: PipelineDep, request: Request
) -> dict[str, Any]:
    """Remove every memory of the user (all agents and sessions) from every store, with their
    history rows and their place in the memory hierarchy, and its chat gateway usage. Events of
    the user still in the async pipeline are skipped by the workers."""
    deleted: list[int] = []

    async def erase(mark: int | None) -> None:
        # An add the queue took after its mark is a new one: the store must not refuse it either.
        deleted.append(await memory.delete_user(user_id, queue_mark_ms=mark))

    if may_erase(principal_of(request).user_id, user_id):
        await forget_pending(request, pipeline, user_id, erase)
    else:
        await erase(None)  # answers 404
    return {"deleted": deleted[0], "user_id": user_id}


_NO_OWNER: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Nothing stored for this owner; `field` names which id"},
}


@router.get("/users/{user_id}/tree", summary="A user's memory tree", **answers(TreeReply, more=_NO_OWNER))
async def tree(user_id: UserId, memory: MemoryDep, query: Annotated[TreeQuery, Query()]) -> dict[str, Any]:
    """Topics containing segments (mid-term, with heat and tier) containing facts and episodes,
    the short-term turns of each session, and the long-term memories, with ids and counts; 404
    when the owner has nothing stored. At most `long_term` memories per long-term group and the
    `segments` hottest segments: `counts` gives every total, `omitted` what was left out and the
    GET that lists it."""
    shown = {"long_term": query.long_term, "segments": query.segments}
    return await memory.tree(user_id, agent_id=query.agent_id, episodes=query.episodes, **shown)


@router.get(
    "/agents/{agent_id}/tree", summary="An agent's own memory tree", **answers(TreeReply, more=_NO_OWNER)
)
async def agent_tree(
    agent_id: Annotated[str, Path(description="The agent, as GET /v1/users lists it with no user.")],
    memory: MemoryDep,
    query: Annotated[AgentTreeQuery, Query()],
) -> dict[str, Any]:
    """The tree of the memories an agent holds of no user (added with `agent_id` and no
    `user_id`; `GET /v1/users` lists them with `user_id` null), as the user route gives one."""
    shown = {"long_term": query.long_term, "segments": query.segments}
    return await memory.tree(None, agent_id=agent_id, episodes=query.episodes, **shown)
