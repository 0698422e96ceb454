"""The domain model: memories, scopes, messages, history and results.

Plain frozen dataclasses, free of I/O, so every layer (storage, retrieval,
REST, CLI) shares one vocabulary. Times are timezone-aware UTC datetimes in
the API and epoch seconds inside the stores.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from memoryd.errors import InvalidInputError

__all__ = [
    "AddResult",
    "AddResults",
    "Event",
    "HistoryEntry",
    "LLMUsage",
    "MAX_SCOPE_ID_CHARS",
    "MemoryRecord",
    "MemoryKind",
    "Message",
    "Page",
    "Scope",
    "SearchHit",
    "UpdateResult",
    "check_id",
    "content_hash",
    "fact_key",
    "id_tag",
    "new_id",
    "parse_time",
    "require_utf8",
    "speaker_key",
    "utcnow",
]


class MemoryKind(StrEnum):
    """What a memory is: a raw turn, or something distilled from turns."""

    EPISODE = "episode"
    FACT = "fact"
    PREFERENCE = "preference"
    PROFILE = "profile"
    SUMMARY = "summary"


class Event(StrEnum):
    """What a write did to one memory (kept in the history)."""

    ADD = "ADD"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    SUPERSEDE = "SUPERSEDE"  # validity ended because a newer fact replaced it (kept)
    NOOP = "NOOP"
    ERROR = "ERROR"


def require_utf8(value: str, field: str) -> str:
    """Reject strings that cannot be stored as UTF-8 (lone surrogates), naming the field."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{field} is not valid UTF-8 text (lone surrogate)", field=field) from exc
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A new record id: a time-ordered UUID (version 7, RFC 9562), as text.

    48 bits of Unix milliseconds, 12 bits of the millisecond's fraction (in 4096ths: RFC 9562's
    "increased clock precision"), then 62 random bits. Within a process each id is greater
    than the one before (two in one 4096th of a millisecond: the later one takes the next), so
    ids sort in the order they were made — memories of one batch too — and every index keyed
    by a memory id grows at its end instead of touching a random page per new row: a batch's
    commit writes a few pages, not hundreds. The random part is at the end: :func:`id_tag`
    shows it.
    """
    global _last_tick
    now = time.time_ns()
    tick = (now // 1_000_000) << 12 | (now % 1_000_000) * 4096 // 1_000_000
    with _ticking:
        tick = _last_tick = max(tick, _last_tick + 1)
    value = (tick >> 12) << 80 | (tick & 0xFFF) << 64 | int.from_bytes(os.urandom(8), "big") >> 2
    value |= 0x7 << 76 | 0x2 << 62  # version 7, RFC 9562 variant
    h = f"{value:032x}"  # as str(uuid.UUID(int=value)) writes it, in a third of the time
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_ticking = threading.Lock()
_last_tick = 0  # the clock part (milliseconds and 4096ths) of this process's last id


def id_tag(record_id: str, chars: int = 8) -> str:
    """A short tag for an id, as lines of a prompt show it: its last ``chars`` characters
    (the random end of a time-ordered id; ids made close together share their beginning)."""
    return record_id[-chars:]


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def from_epoch(value: float | None) -> datetime | None:
    """A stored time; one outside what a datetime holds (stored before :func:`parse_time`
    refused such times) reads as the nearest end of the range, so its row stays readable."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return _LATEST if value > 0 else _EARLIEST


def _in_range(value: datetime, field_name: str) -> datetime:
    """``value`` if it is a time in years 1 to 9999 in UTC too (stored times are UTC)."""
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidInputError(
            f"{field_name} is out of range in UTC (years 1 to 9999): {value.isoformat()}", field=field_name
        ) from exc
    return value


_EPOCH = re.compile(r"-?\d+(?:\.\d+)?")


def parse_time(value: Any, *, field_name: str = "timestamp") -> datetime | None:
    """Accept a datetime, an ISO 8601 string or epoch seconds (a number, or its digits as text when
    they are not an ISO date such as 20240501); return aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _in_range(value if value.tzinfo else value.replace(tzinfo=UTC), field_name)
    if isinstance(value, bool):
        raise InvalidInputError(f"{field_name} must be a time, not a boolean", field=field_name)
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidInputError(f"{field_name} is out of range: {value}", field=field_name) from exc
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):  # RFC 3339 allows either case
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            if _EPOCH.fullmatch(text):  # epoch seconds written as text (a command line's --timestamp)
                return parse_time(float(text), field_name=field_name)
            raise InvalidInputError(
                f"{field_name} must be ISO 8601 (e.g. 2024-05-01T10:00:00Z), got {value!r}",
                field=field_name,
            ) from exc
        return _in_range(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC), field_name)
    raise InvalidInputError(f"{field_name} must be a time, got {type(value).__name__}", field=field_name)


def normalise_text(text: str) -> str:
    """The form used for duplicate detection: NFKC, case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def fact_key(text: str) -> str:
    """A fact as fine mode compares it with what is known: :func:`normalise_text` without the full
    stop or exclamation mark that ends it ("Alice likes tea." is "alice likes tea"): the rules end
    their statements with one, and models often leave it out."""
    return normalise_text(text).rstrip(" .!。！")


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


_NAME_SEPARATORS = str.maketrans("_-.", "   ")


def speaker_key(name: str | None) -> str:
    """A speaker's name (a message's ``name``, a turn's ``actor``) as compared: case and spacing
    ignored, ``_``, ``-`` and ``.`` read as spaces ("ana_lima" is "Ana Lima"); "" for none. Two
    turns are the same turn said again only when their texts, roles and speakers' keys match."""
    return " ".join((name or "").translate(_NAME_SEPARATORS).split()).casefold()


MAX_SCOPE_ID_CHARS = 512  # a user, agent or run id: an identifier, not a document
_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # no part of an id: NUL, line breaks, tabs, escapes


def check_id(value: Any, field: str, max_chars: int = MAX_SCOPE_ID_CHARS) -> str:
    """``value`` as every entry point takes an id (a scope's, a gateway's user or session): a
    non-blank string of UTF-8 text, no control character, at most ``max_chars``; else an
    :class:`InvalidInputError` naming ``field``."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{field} must be a non-empty string", field=field)
    require_utf8(value, field)
    if (control := _ID_CONTROL.search(value)) is not None:
        raise InvalidInputError(
            f"{field} holds a control character ({control.group()!r}), which no id may hold", field=field
        )
    if len(value) > max_chars:
        raise InvalidInputError(
            f"{field} is {len(value)} characters; at most {max_chars} are allowed", field=field
        )
    return value


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a memory belongs to. Every read and write names at least one part."""

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("user_id", "agent_id", "run_id"):
            if (value := getattr(self, name)) is not None:
                check_id(value, name)

    @property
    def is_empty(self) -> bool:
        return self.user_id is None and self.agent_id is None and self.run_id is None

    def require(self) -> Scope:
        if self.is_empty:
            raise InvalidInputError(
                "a scope is required: give at least one of user_id, agent_id, run_id",
                field="user_id",
            )
        return self

    def items(self) -> list[tuple[str, str]]:
        return [
            (k, v)
            for k, v in (("user_id", self.user_id), ("agent_id", self.agent_id), ("run_id", self.run_id))
            if v is not None
        ]

    def contains(self, memory: MemoryRecord) -> bool:
        return (
            (self.user_id is None or memory.user_id == self.user_id)
            and (self.agent_id is None or memory.agent_id == self.agent_id)
            and (self.run_id is None or memory.run_id == self.run_id)
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One input message: a chat turn or a plain text."""

    content: str
    role: str = "user"
    name: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One stored memory and everything known about where it came from."""

    id: str
    text: str
    kind: MemoryKind
    user_id: str | None
    agent_id: str | None
    run_id: str | None
    metadata: dict[str, Any]
    role: str | None
    actor: str | None
    source_ids: tuple[str, ...]
    event_time: datetime | None
    created_at: datetime
    updated_at: datetime
    hash: str
    valid_from: datetime
    valid_to: datetime | None = None

    @property
    def scope(self) -> Scope:
        return Scope(self.user_id, self.agent_id, self.run_id)

    @property
    def is_current(self) -> bool:
        return self.valid_to is None

    def detached(self) -> MemoryRecord:
        """This record with metadata nobody else holds (the only mutable field), for a caller
        that may change what it was given without altering a shared or cached record."""
        return replace(self, metadata=_json_copy(self.metadata)) if self.metadata else self

    def with_changes(self, **changes: Any) -> MemoryRecord:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``memory`` mirrors ``text`` for mem0 clients."""
        return {
            "id": self.id,
            "memory": self.text,
            "text": self.text,
            "kind": self.kind.value,
            "user_id": self.user_id,
            "agent_id": self.agent_id,
            "run_id": self.run_id,
            "metadata": self.metadata,
            "role": self.role,
            "actor": self.actor,
            "source_ids": list(self.source_ids),
            "event_time": _iso(self.event_time),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "hash": self.hash,
            "valid_from": _iso(self.valid_from),
            "valid_to": _iso(self.valid_to),
        }


def _json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (what metadata is: it round-trips through JSON text), several
    times cheaper than :func:`copy.deepcopy`, which a cached search hit would pay per record."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value  # str, int, float, bool, None: immutable


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A memory found by search, with its fused score and, on request, its parts."""

    memory: MemoryRecord
    score: float
    explain: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        body = self.memory.to_dict()
        body["score"] = self.score
        if self.explain is not None:
            body["explain"] = self.explain
        return body


@dataclass(frozen=True, slots=True)
class AddResult:
    """What happened to one item of an ``add`` call.

    In fast mode there is one per input message (``kind`` "episode", ``index``
    its position). In fine mode the episodes come first, then one per extracted
    fact or preference (``index`` its position in the extraction, ``sources``
    the episode ids it came from, ``previous`` the text it updated or replaced).
    """

    event: Event
    index: int
    id: str | None = None
    text: str | None = None
    reason: str | None = None
    memory: MemoryRecord | None = field(default=None, compare=False)
    kind: str = "episode"
    previous: str | None = None
    sources: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "memory": self.text,
            "event": self.event.value,
            "index": self.index,
            "kind": self.kind,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        if self.previous is not None:
            body["previous_memory"] = self.previous
        if self.sources:
            body["sources"] = list(self.sources)
        if self.memory is not None and self.memory.valid_to is not None:  # stored already ended
            body["valid_to"] = self.memory.valid_to.isoformat()
        if self.memory is not None:  # the memory as stored (the remote client reads it back)
            body["record"] = self.memory.to_dict()
        return body


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What ``update`` did: the memory as it now is, and ``event``, ``UPDATE`` or ``NOOP`` (nothing
    differed; its history records either). ``derived``: what an edited turn's text changed among
    the memories the fast-mode rules read in it (profile, preferences): one per statement of the
    new text (``ADD``, or ``NOOP`` when known already), then ``DELETE`` for each that only the
    old text stated (``memory`` is it as it was)."""

    memory: MemoryRecord
    event: Event
    derived: tuple[AddResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        derived = [r.to_dict() for r in self.derived]
        return {**self.memory.to_dict(), "event": self.event.value, "derived": derived}


@dataclass(slots=True)
class LLMUsage:
    """LLM cost of one ``add``: calls, tokens, and why the fast path was used, if it was."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fallback: str | None = None
    # Done, but not all of it: an answer cut at the token limit, a reconciliation that failed (its
    # facts added as new). The turns stay due for another pass.
    incomplete: str | None = None

    def record(self, outcome: Any) -> None:
        """Add the calls and tokens of one structured LLM exchange."""
        self.calls += outcome.calls
        self.prompt_tokens += outcome.usage.prompt_tokens
        self.completion_tokens += outcome.usage.completion_tokens

    def fell_short(self, why: str) -> None:
        """Note a part left undone (``incomplete``: each reason, in order)."""
        self.incomplete = why if self.incomplete is None else f"{self.incomplete}; {why}"

    @property
    def complete(self) -> bool:
        """Whether the LLM did all it was asked (no fallback, no answer cut short)."""
        return self.fallback is None and self.incomplete is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "fallback": self.fallback,
            "incomplete": self.incomplete,
        }


class AddResults(list[AddResult]):
    """The result list of ``add``, plus what the call as a whole did.

    A plain list of :class:`AddResult` (one per item), with ``mode`` (the mode
    that ran), ``llm`` (fine mode's calls, tokens and fallback reason) and
    ``relations`` (graph changes, mem0's ``added_entities``/``deleted_entities``).
    """

    def __init__(
        self,
        results: list[AddResult] | None = None,
        *,
        mode: str = "fast",
        llm: LLMUsage | None = None,
        relations: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__(results or [])
        self.mode = mode
        self.llm = llm
        self.relations = relations

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"results": [r.to_dict() for r in self], "mode": self.mode}
        if self.llm is not None:
            body["llm"] = self.llm.to_dict()
        if self.relations is not None:
            body["relations"] = self.relations
        return body


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One recorded change of one memory."""

    id: int
    memory_id: str
    event: Event
    old_text: str | None
    new_text: str | None
    actor: str
    created_at: datetime
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "memory_id": self.memory_id,
            "event": self.event.value,
            "old_memory": self.old_text,
            "new_memory": self.new_text,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, with the total that matched."""

    items: list[MemoryRecord]
    total: int
    offset: int
    limit: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [m.to_dict() for m in self.items],
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
        }
