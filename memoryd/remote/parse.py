"""The REST bodies of ``/v1`` read back into memoryd's own objects (no I/O).

Each function is the inverse of a ``to_dict()`` of :mod:`memoryd.models` (or of the route that
builds the body), so :class:`memoryd.remote.AsyncMemoryClient` returns what :class:`AsyncMemory`
returns: times as aware UTC datetimes, enums as enums, tuples where the models keep tuples.

What a body does not carry stays unknown: an :class:`AddResult` has no ``memory`` when its item
has no ``record`` (a server older than that field), a search relation's :class:`Entity` has only
its id, name and type (``normal`` is recomputed, ``aliases`` empty, ``created_at`` the
relation's, the owner the search's scope).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from memoryd.context import Context, ContextItem
from memoryd.graph import Entity, Relation
from memoryd.graph.models import owner_of
from memoryd.graph.normalise import normalise_name
from memoryd.models import (
    AddResult,
    AddResults,
    Event,
    HistoryEntry,
    LLMUsage,
    MemoryKind,
    MemoryRecord,
    Page,
    Scope,
    SearchHit,
    UpdateResult,
)
from memoryd.retrieval.related import SearchResults

__all__ = [
    "Submitted",
    "add_results",
    "context",
    "count",
    "deleted",
    "history",
    "mapping",
    "page",
    "record",
    "rows",
    "search_results",
    "time",
    "tree",
    "update_result",
]


class Submitted(AddResults):
    """What ``add`` returns from a server with the async pipeline on: the add's results when it
    was processed at once (``pipeline`` ``bypassed``), none when it was queued (``queued``); its
    ``event_id`` and the event's ``status`` (``GET /v1/events/{event_id}`` follows it)."""

    def __init__(
        self, results: AddResults, *, event_id: str, status: str | None, pipeline: str | None
    ) -> None:
        super().__init__(list(results), mode=results.mode, llm=results.llm, relations=results.relations)
        self.event_id = event_id
        self.status = status
        self.pipeline = pipeline

    def __repr__(self) -> str:  # a queued add has no results: the list alone would print as []
        return (
            f"Submitted(event_id={self.event_id!r}, status={self.status!r}, "
            f"pipeline={self.pipeline!r}, results={list(self)!r})"
        )


def time(value: Any) -> datetime:
    """An ISO 8601 time of a body (always with its offset: UTC) as a datetime."""
    return datetime.fromisoformat(value)


def _maybe_time(value: Any) -> datetime | None:
    return None if value is None else time(value)


def record(body: dict[str, Any]) -> MemoryRecord:
    return MemoryRecord(
        id=body["id"],
        text=body["text"],
        kind=MemoryKind(body["kind"]),
        user_id=body.get("user_id"),
        agent_id=body.get("agent_id"),
        run_id=body.get("run_id"),
        metadata=body.get("metadata") or {},
        role=body.get("role"),
        actor=body.get("actor"),
        source_ids=tuple(body.get("source_ids") or ()),
        event_time=_maybe_time(body.get("event_time")),
        created_at=time(body["created_at"]),
        updated_at=time(body["updated_at"]),
        hash=body["hash"],
        valid_from=time(body["valid_from"]),
        valid_to=_maybe_time(body.get("valid_to")),
    )


def deleted(body: dict[str, Any]) -> list[MemoryRecord]:
    """``DELETE /v1/memories/{id}``: the memory as it was, then the rule memories that went with it."""
    return [record(body["memory"]), *(record(m) for m in body.get("also_deleted") or ())]


def count(body: dict[str, Any]) -> int:
    """A delete-all's or a user's delete's ``deleted``."""
    deleted = body["deleted"]
    if not isinstance(deleted, int):
        raise TypeError(f"deleted is {type(deleted).__name__}, not a count")
    return deleted


def rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``GET /v1/users``: its ``results``, a list of objects."""
    results = body["results"]
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise TypeError("results is not a list of objects")
    return results


def mapping(body: Any) -> dict[str, Any]:
    """A body that is one JSON object (a tree)."""
    if not isinstance(body, dict):
        raise TypeError(f"the answer is a {type(body).__name__}, not an object")
    return body


def tree(body: Any) -> dict[str, Any]:
    """``GET /v1/users/{id}/tree`` (or an agent's): the tree, an object with its ``counts``."""
    if "counts" not in mapping(body):
        raise KeyError("counts")
    return dict(body)


def _add_result(body: dict[str, Any]) -> AddResult:
    return AddResult(
        Event(body["event"]),
        body["index"],
        body.get("id"),
        body.get("memory"),
        body.get("reason"),
        memory=record(body["record"]) if body.get("record") is not None else None,
        kind=body.get("kind", "episode"),
        previous=body.get("previous_memory"),
        sources=tuple(body.get("sources") or ()),
    )


def add_results(body: dict[str, Any]) -> AddResults:
    """``POST /v1/memories``: the results, ``mode``, ``llm`` and ``relations``; a
    :class:`Submitted` when the server's async pipeline answered."""
    # A known event that is done answers with its record: the add's results are in it.
    done = (body.get("record") or {}).get("result") if "results" not in body else None
    source = done if isinstance(done, dict) else body
    llm = source.get("llm")
    results = AddResults(
        [_add_result(r) for r in source.get("results") or ()],
        mode=source.get("mode", "fast"),
        llm=None if llm is None else LLMUsage(**llm),
        relations=source.get("relations"),
    )
    if "pipeline" in body:
        return Submitted(results, event_id=body["event_id"], status=body.get("status"),
                         pipeline=body.get("pipeline"))  # fmt: skip
    if body.get("event_id") is not None:  # the pipeline off: the event id given, echoed
        return Submitted(results, event_id=body["event_id"], status=None, pipeline=None)
    return results


def _entity(body: dict[str, Any], prefix: str, scope: Scope, created_at: datetime) -> Entity:
    name = body[prefix]
    user_id, agent_id, _ = owner_of(scope)
    return Entity(
        id=body[f"{prefix}_id"],
        name=name,
        normal=normalise_name(name),
        type=body.get(f"{prefix}_type"),
        aliases=(),
        user_id=user_id,
        agent_id=agent_id,
        created_at=created_at,
    )


def _relation(body: dict[str, Any], scope: Scope) -> Relation:
    created = time(body["created_at"])
    return Relation(
        id=body["id"],
        source=_entity(body, "source", scope, created),
        relation=body["relationship"],
        target=_entity(body, "target", scope, created),
        memory_id=body["memory_id"],
        memory_ids=tuple(body.get("memory_ids") or ()),
        run_id=body.get("run_id"),
        valid_from=time(body["valid_from"]),
        valid_to=_maybe_time(body.get("valid_to")),
        reason=body.get("reason"),
        created_at=created,
    )


def search_results(body: dict[str, Any], scope: Scope) -> SearchResults:
    hits = [SearchHit(record(h), h["score"], h.get("explain")) for h in body["results"]]
    relations = body.get("relations")
    return SearchResults(hits, None if relations is None else [_relation(r, scope) for r in relations])


def page(body: dict[str, Any]) -> Page:
    return Page([record(m) for m in body["results"]], body["total"], body["offset"], body["limit"])


def update_result(body: dict[str, Any]) -> UpdateResult:
    derived = tuple(_add_result(r) for r in body.get("derived") or ())
    return UpdateResult(record(body), Event(body["event"]), derived)


def history(body: dict[str, Any]) -> list[HistoryEntry]:
    return [
        HistoryEntry(
            id=e["id"],
            memory_id=e["memory_id"],
            event=Event(e["event"]),
            old_text=e.get("old_memory"),
            new_text=e.get("new_memory"),
            actor=e["actor"],
            created_at=time(e["created_at"]),
            details=e.get("details") or {},
        )
        for e in body["results"]
    ]


def context(body: dict[str, Any]) -> Context:
    items = [
        ContextItem(
            i["id"], i["tag"], i["kind"], i["section"], i["text"], i["score"], i["tokens"],
            i.get("truncated", False), i.get("lead", ""),
        )
        for i in body["items"]
    ]  # fmt: skip
    # the items come section by section, in the builder's order: counting them gives its ``sections``
    sections = dict(Counter(i.section for i in items))
    return Context(
        body["text"], items, body["tokens"], body["budget"], body["tokenizer"], body["dropped"], sections
    )
