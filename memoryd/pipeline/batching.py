"""Turning a batch of events into few ``add`` calls, and their results back into one per event: pure.

Events of the same scope, metadata and mode that follow each other in the
stream become one :meth:`AsyncMemory.add` call with all their messages, so the
embedder sees one large batch; each event's call-level ``timestamp`` moves onto
its messages so nothing of its meaning is lost. Fast-mode results are one per
message, so each event gets back exactly its slice, renumbered from 0, followed by
the memories the fast-mode rules derived from those messages (found by their
source episodes, also renumbered from 0). Fine-mode events are never merged
(extraction reads one event's conversation at a time).

Calls of one scope run one after another, in stream order (an exact duplicate
is a NOOP of the *earlier* message, as it would be without the pipeline);
calls of different scopes may run concurrently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from memoryd.models import AddResult, AddResults, Message
from memoryd.pipeline.base import Delivery
from memoryd.pipeline.events import AddPayload, PipelineEvent

__all__ = ["AddCall", "Job", "message_items", "plan_calls", "split_results"]


@dataclass
class Job:
    """One event a worker holds the lock of, about to be processed."""

    delivery: Delivery
    event: PipelineEvent
    attempts: int  # this attempt's number, counting deliveries lost to dead workers
    digest: str = ""  # its add's fingerprint (PipelineEvent.payload.digest), computed once
    messages: list[Message] = field(default_factory=list)  # its messages, once validated

    def __post_init__(self) -> None:
        if not self.digest:
            self.digest = self.event.payload.digest()


@dataclass
class AddCall:
    """One ``add`` call covering one or more events."""

    jobs: list[Job]
    mode: str = "fast"
    messages: list[Any] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # where each job's messages start
    counts: list[int] = field(default_factory=list)

    def kwargs(self) -> dict[str, Any]:
        p = self.jobs[0].event.payload
        return {**p.scope(), "metadata": p.metadata, "mode": self.mode}


def message_items(payload: AddPayload) -> list[Any]:
    """The payload's messages as a list, each carrying the call's timestamp unless it has its own."""
    raw = payload.messages
    items = [raw] if isinstance(raw, (str, Mapping)) else list(raw)
    if payload.timestamp is None:
        return items
    out: list[Any] = []
    for item in items:
        if isinstance(item, str):
            out.append({"content": item, "timestamp": payload.timestamp})
        elif isinstance(item, Mapping) and not (item.get("timestamp") or item.get("created_at")):
            out.append({**item, "timestamp": payload.timestamp})
        else:
            out.append(item)
    return out


def _key(payload: AddPayload, mode: str) -> str:
    return json.dumps([payload.scope(), mode, payload.metadata or {}], sort_keys=True, ensure_ascii=False)


def plan_calls(jobs: list[Job], *, default_mode: str, max_messages: int) -> list[list[AddCall]]:
    """Group ``jobs`` (in stream order) into calls: one list per scope, to run in order."""
    by_scope: dict[str, list[AddCall]] = {}
    last_key: dict[str, str] = {}
    for job in jobs:
        payload = job.event.payload
        mode = payload.mode or default_mode
        scope = json.dumps(payload.scope(), sort_keys=True)
        items = message_items(payload)
        calls = by_scope.setdefault(scope, [])
        key = _key(payload, mode)
        current = calls[-1] if calls else None
        mergeable = (
            current is not None
            and mode == "fast"
            and last_key.get(scope) == key
            and len(current.messages) + len(items) <= max_messages
        )
        if not mergeable or current is None:
            current = AddCall([], mode)
            calls.append(current)
        current.jobs.append(job)
        current.offsets.append(len(current.messages))
        current.counts.append(len(items))
        current.messages.extend(items)
        last_key[scope] = key if mode == "fast" else ""
    return list(by_scope.values())


def split_results(call: AddCall, results: AddResults) -> list[dict[str, Any]]:
    """Each job's share of a call's results, as ``AddResults.to_dict()`` of that job alone."""
    if len(call.jobs) == 1:
        return [results.to_dict()]
    shares: list[list[AddResult]] = [[] for _ in call.jobs]
    owner: dict[str, int] = {}  # episode id -> the job whose message it is
    for r in results:
        if r.kind != "episode":
            continue
        for n, (start, count) in enumerate(zip(call.offsets, call.counts)):
            if start <= r.index < start + count:
                shares[n].append(replace(r, index=r.index - start))
                if r.id is not None:
                    owner.setdefault(r.id, n)
                break
    for r in results:  # derived rows (fast-mode rules), by the episodes they came from
        mine = next((owner[s] for s in r.sources if s in owner), None) if r.kind != "episode" else None
        if mine is not None:
            shares[mine].append(replace(r, index=sum(x.kind != "episode" for x in shares[mine])))
    return [AddResults(share, mode=results.mode).to_dict() for share in shares]
