"""The event schema: what producers write to the stream and workers read back.

An event is one ``add`` call, written as flat string fields of a stream entry::

    v           schema version (this code writes SCHEMA_VERSION)
    event_id    the client's id, or a generated UUID; processing is idempotent on it
    type        "add"
    created_at  when it was enqueued (ISO 8601, UTC), on the producer's clock
    enqueued_ms when the queue took it, in ms on Redis's clock (version 2; Redis's ENQUEUE adds it):
                compared with a user's deletion mark, made on that same clock. Absent (an event of
                version 1, or an external producer's), ``created_at`` is compared instead
    attempt     1 on first delivery; a retry is re-enqueued with attempt + 1
    source      who produced it: "api:v1", "api:mem0", "gateway", "cli", ...
    payload     JSON: {messages, user_id, agent_id, run_id, metadata, timestamp, mode, tenant}
                (``tenant`` only for a tenant other than the default one; the event id
                in the stream is then ``<tenant>/<client's id>``, so tenants never share ids)
    last_error  JSON, on retries: the error of the previous attempt
    replayed_from   on events replayed from the DLQ: the DLQ entry id
    extra_fields    only on an entry that had more than MAX_ENTRY_FIELDS fields (no memoryd writes
                    one: an external producer's), as a worker carries it on into a retry or a dead
                    letter: JSON ``{"count": n, "fields": {...}}``, the fields not named above, as
                    many as fit in EXTRA_FIELDS_BYTES (``count``: how many there were). See
                    :func:`bounded_fields`

Compatibility, so an old worker and a new producer can run side by side for one
version: version N+1 may only *add* optional fields (to the entry or the payload)
whose absence keeps the meaning of the rest. A worker of version N reads versions
N-1 to N+1: it ignores what it does not know in a newer event but carries the
unknown fields (of the entry and of the payload) along when it retries,
dead-letters or replays the event. Anything
else (a missing field, a version out of that range) is a permanent error: the
event goes to the dead-letter stream, from which it can be replayed once the
workers are upgraded.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from memoryd.auth.principal import check_tenant
from memoryd.config import DEFAULT_TENANT
from memoryd.errors import InvalidInputError
from memoryd.ingest.inputs import AddInput, normalise_add
from memoryd.models import Scope

if TYPE_CHECKING:
    from memoryd.config import LimitsConfig

__all__ = [
    "EXTRA_FIELDS",
    "EXTRA_FIELDS_BYTES",
    "KNOWN_FIELDS",
    "MAX_ENTRY_FIELDS",
    "MIN_READ_VERSION",
    "SCHEMA_VERSION",
    "AddPayload",
    "EventStatus",
    "PipelineEvent",
    "check_event_id",
    "check_stored_event_id",
    "bounded_fields",
    "readable_event_id",
    "new_event_id",
    "owned_event_id",
    "stored_event_id",
]

SCHEMA_VERSION = 2
MIN_READ_VERSION = max(1, SCHEMA_VERSION - 1)
MAX_READ_VERSION = SCHEMA_VERSION + 1

_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
# The stored id's own part may carry an owner's prefix ("u-" + 16 hex + ".", see stored_event_id):
# up to 19 + 128 characters.
_STORED_ID = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9_-]{0,63}/)?[A-Za-z0-9][A-Za-z0-9._:@-]{0,146}")
_PAYLOAD_KEYS = ("messages", "user_id", "agent_id", "run_id", "metadata", "timestamp", "mode", "tenant")
_KNOWN_FIELDS = frozenset(
    (
        "v",
        "event_id",
        "type",
        "created_at",
        "enqueued_ms",
        "attempt",
        "source",
        "payload",
        "last_error",
        "replayed_from",
    )
)
KNOWN_FIELDS = _KNOWN_FIELDS
# An entry is re-added by one XADD of all its fields inside a Lua script (a retry, a dead letter, a
# replay), and Lua unpacks at most ~8000 values: one with more fields than this, which none of
# memoryd's producers writes (they write about ten), is bounded as a worker reads it.
MAX_ENTRY_FIELDS = 64
EXTRA_FIELDS = "extra_fields"
EXTRA_FIELDS_BYTES = 8192


class EventStatus(StrEnum):
    """Where an event is: ``failed`` means its last attempt failed and a retry is scheduled
    (``retry_at``); ``queued`` is also an event put back to wait while the store is down or refuses
    writes (no attempt of its failed: its ``error`` says why, ``retry_at`` when it runs again), and
    either of these once its retry is back on the stream (its ``error`` the last one, no ``retry_at``)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"


def new_event_id() -> str:
    return str(uuid.uuid4())


def check_event_id(value: Any, field_name: str = "event_id") -> str:
    """A client-given event id: 1-128 characters of letters, digits and ``._:@-``."""
    if not isinstance(value, str) or not _EVENT_ID.fullmatch(value):
        raise InvalidInputError(
            f"{field_name} must be 1-128 characters: letters, digits and . _ : @ - "
            "(starting with a letter or digit)",
            field=field_name,
        )
    return value


def stored_event_id(event_id: str, tenant: str | None, owner: str | None = None) -> str:
    """The id an event has in the stream: the client's, prefixed by its tenant unless default,
    and by its owner's fingerprint when a user-bound key gave it (``owner``): a user's ids are
    its own, so no user can learn of, or take first, an id another user's add will use."""
    if owner is not None:
        event_id = _owner_prefix(owner) + event_id
    return event_id if tenant is None or tenant == DEFAULT_TENANT else f"{tenant}/{event_id}"


def owned_event_id(stored_id: str, owner: str) -> bool:
    """Whether ``stored_id`` (as :func:`stored_event_id` makes it) is one of ``owner``'s own ids."""
    return stored_id.split("/", 1)[-1].startswith(_owner_prefix(owner))


def _owner_prefix(owner: str) -> str:
    return f"u-{hashlib.sha256(owner.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}."


def check_stored_event_id(value: Any, field_name: str = "event.event_id") -> str:
    """An event id as stored in the stream (a client id, maybe prefixed ``<tenant>/``)."""
    if not isinstance(value, str) or not _STORED_ID.fullmatch(value):
        raise InvalidInputError(
            f"{field_name} must be an event id, optionally prefixed by '<tenant>/'", field=field_name
        )
    return value


def readable_event_id(fields: Mapping[str, str]) -> str | None:
    """The event id of a stream entry's ``fields``; None when it is missing or unreadable."""
    value = fields.get("event_id")
    return value if isinstance(value, str) and _STORED_ID.fullmatch(value) else None


def bounded_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """An entry's fields as a worker carries them on (into a retry or a dead letter): as they are when
    there are at most :data:`MAX_ENTRY_FIELDS`; else the fields this schema names, and under
    :data:`EXTRA_FIELDS` a JSON object ``{"count": n, "fields": {...}}`` of the others, as many as
    fit in :data:`EXTRA_FIELDS_BYTES` in their order (``count``: how many there were)."""
    if len(fields) <= MAX_ENTRY_FIELDS:
        return dict(fields)
    kept = {name: value for name, value in fields.items() if name in _KNOWN_FIELDS}
    others = [(name, value) for name, value in fields.items() if name not in _KNOWN_FIELDS]
    shown: dict[str, str] = {}
    size = 0
    for name, value in others:
        size += len(json.dumps(name)) + len(json.dumps(value)) + 2  # ASCII: lone surrogates escaped
        if size > EXTRA_FIELDS_BYTES:
            break
        shown[name] = value
    kept[EXTRA_FIELDS] = json.dumps({"count": len(others), "fields": shown}, separators=(",", ":"))
    return kept


@dataclass(frozen=True)
class AddPayload:
    """The arguments of one :meth:`AsyncMemory.add` call."""

    messages: Any
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, Any] | None = None
    timestamp: str | float | None = None
    mode: str | None = None
    tenant: str | None = None  # None: the default tenant

    def with_user(self, user_id: str) -> AddPayload:
        """The same add, forced to ``user_id`` (what a user-bound API key sends)."""
        return replace(self, user_id=user_id)

    def to_json(self, extra: Mapping[str, Any] | None = None) -> str:
        """The payload as JSON, with ``extra`` (fields of a newer version) kept alongside."""
        body = self._fields()
        body.update((k, v) for k, v in (extra or {}).items() if k not in _PAYLOAD_KEYS)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    def _fields(self) -> dict[str, Any]:
        """The arguments that are set, by name."""
        return {k: getattr(self, k) for k in _PAYLOAD_KEYS if getattr(self, k) is not None}

    @classmethod
    def parse(cls, text: str, *, strict: bool) -> tuple[AddPayload, dict[str, Any]]:
        """The payload, and the fields it has that this version does not know (``strict``: none allowed)."""
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"event payload is not JSON: {exc}", field="event.payload") from None
        if not isinstance(body, dict):
            raise InvalidInputError("event payload must be a JSON object", field="event.payload")
        unknown = sorted(set(body) - set(_PAYLOAD_KEYS))
        if strict and unknown:
            where = f"event.payload.{unknown[0]}"
            raise InvalidInputError(f"unknown payload field {unknown[0]!r}", field=where)
        if "messages" not in body:
            raise InvalidInputError("event payload has no messages", field="event.payload.messages")
        tenant = body.get("tenant")
        if tenant is not None:  # it picks the store to write to: checked here, before anything uses it
            check_tenant(tenant, "event.payload.tenant")
        for name in ("user_id", "agent_id", "run_id"):  # an outside producer's {"user_id": 5}: names a lock
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                why = f"event payload's {name} must be a string, not {type(value).__name__}"
                raise InvalidInputError(why, field=f"event.payload.{name}")
        return cls(**{k: body[k] for k in _PAYLOAD_KEYS if k in body}), {k: body[k] for k in unknown}

    def scope(self) -> dict[str, str | None]:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}

    def read(self, *, default_mode: str, limits: LimitsConfig) -> AddInput:
        """This add read as :meth:`AsyncMemory.add <memoryd.memory.AsyncMemory.add>` reads it
        (``default_mode``: the mode of a call that names none); a bad add raises its error now."""
        scope = Scope(self.user_id, self.agent_id, self.run_id)
        return normalise_add(self.messages, scope=scope, metadata=self.metadata, timestamp=self.timestamp,
                             mode=self.mode, default_mode=default_mode, limits=limits)  # fmt: skip

    def parsed(self, data: AddInput) -> AddPayload:
        """This add written in one form, from ``data`` (what :func:`normalise_add` read it as): the
        messages a list of ``{role, content[, name, id, timestamp]}`` objects as they were read
        (a string is a user message; each message's time written in ISO 8601, the call's
        ``timestamp`` moved onto those without one of their own, as a worker's batching does),
        and no ``metadata`` when it is empty. Adds that read alike (a string or a list of it,
        ``{}`` or no metadata) are then written, and fingerprinted (:meth:`digest`), alike; the
        scope, tenant and ``mode`` stay as given (a mode left out is the default of whoever runs
        it). Applied again to its own result it changes nothing."""
        messages: list[dict[str, Any]] = []
        for message, at in zip(data.messages, data.times, strict=True):
            item: dict[str, Any] = {"role": message.role, "content": message.content}
            if message.name is not None:
                item["name"] = message.name
            if message.id is not None:
                item["id"] = message.id
            if at is not None:
                item["timestamp"] = at.isoformat()
            messages.append(item)
        return replace(self, messages=messages, metadata=data.metadata or None, timestamp=None)

    def digest(self) -> str:
        """A fingerprint of the add as written (every argument, the tenant and user included): a
        second submission of an event id is a retry of the same add only when its digest is the
        same. Producers write adds :meth:`parsed`, so that adds that read alike have one digest;
        the function itself is the one every version computes over a stream entry's payload."""
        text = json.dumps(
            self._fields(), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str
        )
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class PipelineEvent:
    """One event as read from, or written to, the stream."""

    event_id: str
    payload: AddPayload
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    attempt: int = 1
    source: str = "api"
    version: int = SCHEMA_VERSION
    last_error: dict[str, Any] | None = None
    replayed_from: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # fields of a newer version, carried along
    payload_extra: dict[str, Any] = field(default_factory=dict)  # the same, inside the payload
    enqueued_ms: int | None = None  # when the queue took it, on its clock (None: not yet, or not said)

    @property
    def enqueued_at_ms(self) -> int:
        """When it was enqueued (ms): on the queue's clock when known, else on the producer's."""
        if self.enqueued_ms is not None:
            return self.enqueued_ms
        return int(self.created_at.timestamp() * 1000)

    def to_fields(self) -> dict[str, str]:
        fields = dict(self.extra)
        fields.update(
            v=str(self.version),
            event_id=self.event_id,
            type="add",
            created_at=self.created_at.isoformat(timespec="microseconds"),
            attempt=str(self.attempt),
            source=self.source,
            payload=self.payload.to_json(self.payload_extra),
        )
        if self.last_error is not None:
            fields["last_error"] = json.dumps(self.last_error, ensure_ascii=False)
        if self.replayed_from is not None:
            fields["replayed_from"] = self.replayed_from
        if self.enqueued_ms is not None:
            fields["enqueued_ms"] = str(self.enqueued_ms)
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> PipelineEvent:
        """Decode a stream entry; :class:`InvalidInputError` (field ``event.<name>``) if it is unusable."""
        for name, value in fields.items():
            if not _is_utf8(name) or not _is_utf8(value):
                where = name if _is_utf8(name) else name.encode("utf-8", "replace").decode()
                raise InvalidInputError(f"event field {where!r} is not valid UTF-8", field=f"event.{where}")
        raw_version = fields.get("v")
        if raw_version is None or not raw_version.isdigit():
            raise InvalidInputError("event has no schema version ('v')", field="event.v")
        version = int(raw_version)
        if not MIN_READ_VERSION <= version <= MAX_READ_VERSION:
            raise InvalidInputError(
                f"event schema version {version} is not supported by this worker "
                f"(it reads versions {MIN_READ_VERSION} to {MAX_READ_VERSION}); upgrade the workers, "
                "then replay the dead-letter queue",
                field="event.v",
            )
        event_id = check_stored_event_id(fields.get("event_id"), "event.event_id")
        kind = fields.get("type", "add")
        if kind != "add":
            raise InvalidInputError(f"unknown event type {kind!r}", field="event.type")
        payload_text = fields.get("payload")
        if payload_text is None:
            raise InvalidInputError("event has no payload", field="event.payload")
        payload, payload_extra = AddPayload.parse(payload_text, strict=version <= SCHEMA_VERSION)
        attempt = fields.get("attempt", "1")
        if not attempt.isdigit() or int(attempt) < 1:
            raise InvalidInputError("event attempt must be a positive integer", field="event.attempt")
        last_error = fields.get("last_error")
        enqueued = fields.get("enqueued_ms")
        if enqueued is not None and not enqueued.isdigit():
            raise InvalidInputError("event enqueued_ms is not a whole number", field="event.enqueued_ms")
        return cls(
            event_id=event_id,
            payload=payload,
            created_at=_parse_time(fields.get("created_at")),
            attempt=int(attempt),
            source=fields.get("source", "external"),
            version=version,
            last_error=_json_object(last_error) if last_error else None,
            replayed_from=fields.get("replayed_from"),
            extra={k: v for k, v in fields.items() if k not in _KNOWN_FIELDS},
            payload_extra=payload_extra,
            enqueued_ms=int(enqueued) if enqueued is not None else None,
        )

    def retried(self, error: dict[str, Any], attempt: int) -> PipelineEvent:
        """The same event for its next attempt, number ``attempt``: the worker counts deliveries lost
        to dead workers too (``self.attempt + 1`` would forget them, and let an event be delivered
        more than ``pipeline.max_attempts`` times)."""
        return replace(self, attempt=attempt, last_error=error)

    def replayed(self, dlq_id: str) -> PipelineEvent:
        """The event as replayed from the dead-letter stream: a fresh first attempt."""
        return replace(self, attempt=1, last_error=None, replayed_from=dlq_id)


def _is_utf8(text: str) -> bool:
    """False for text holding lone surrogates: bytes that were not UTF-8, decoded with
    ``surrogateescape``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_time(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        msg = f"event created_at is not ISO 8601: {value!r}"
        raise InvalidInputError(msg, field="event.created_at") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"message": text}
    return value if isinstance(value, dict) else {"message": str(value)}
