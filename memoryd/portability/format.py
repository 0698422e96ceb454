"""The export file: JSON Lines, one object per line, each with a ``type``.

In file order::

    {"type": "header", "kind": "memoryd-export", "format": 1, "memoryd": "0.1.0",
     "exported_at": ISO, "scope": {"user_id": ...} | null, "embedder": {"name", "dim"},
     "index_format": "2", "vectors": true}
    {"type": "memory", "id", "text", "kind", "user_id", "agent_id", "run_id", "metadata", "role",
     "actor", "source_ids", "event_time", "created_at", "updated_at", "hash", "valid_from",
     "valid_to", "index": {"vector": base64 float32 little-endian, "terms": [...]} (optional)}
    {"type": "history", "memory_id", "event", "old_text", "new_text", "actor", "created_at",
     "details", "user_id", "agent_id", "run_id"}
    {"type": "entity", "id", "owner": [user_id, agent_id, run_id], "name", "normal", "entity_type",
     "names": [[normal, display], ...], "created_at"}
    {"type": "relation", "id", "user_id", "agent_id", "source_id", "relation", "target_id",
     "memory_id", "run_id", "valid_from", "valid_to", "reason", "created_at",
     "mentions": [{"memory_id", "run_id", "valid_to"}, ...]}
    {"type": "end", "counts": {"memory": n, "history": n, "entity": n, "relation": n}}

Times are ISO 8601 UTC with microseconds. Memories come oldest first, history in
the order written, entities before the relations that name them. The ``end`` line
makes a truncated file detectable. A memory's ``index`` is its stored vector and
keyword terms, reused on import when the target's embedder and index format are the
header's; without it the memory is embedded again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from memoryd import __version__
from memoryd.errors import InvalidInputError
from memoryd.models import Event, MemoryKind, MemoryRecord, Scope
from memoryd.storage import HistoryDraft
from memoryd.storage.portable import EntityRow, MentionRow, RelationRow

__all__ = [
    "FORMAT",
    "KIND",
    "TYPES",
    "End",
    "Header",
    "MemoryLine",
    "dumps",
    "end_doc",
    "entity_doc",
    "header_doc",
    "history_doc",
    "memory_doc",
    "parse_line",
    "relation_doc",
]

KIND = "memoryd-export"
FORMAT = 1
TYPES = ("memory", "history", "entity", "relation")  # the counted row types, in file order


@dataclass(frozen=True)
class Header:
    format: int
    exported_at: datetime
    scope: Scope | None
    embedder: tuple[str, int]
    index_format: str
    vectors: bool


@dataclass(frozen=True)
class MemoryLine:
    record: MemoryRecord
    vector: np.ndarray | None = None
    terms: list[str] | None = None


@dataclass(frozen=True)
class End:
    counts: dict[str, int] = field(default_factory=dict)


Line = Header | MemoryLine | HistoryDraft | EntityRow | RelationRow | End


def dumps(doc: dict[str, Any]) -> str:
    """One line of the file (compact JSON, UTF-8 kept as is)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds")


# -- writing --------------------------------------------------------------------
def header_doc(
    *, scope: Scope | None, embedder: tuple[str, int], index_format: str, vectors: bool, exported_at: datetime
) -> dict[str, Any]:
    return {
        "type": "header",
        "kind": KIND,
        "format": FORMAT,
        "memoryd": __version__,
        "exported_at": _iso(exported_at),
        "scope": None if scope is None else dict(scope.items()),
        "embedder": {"name": embedder[0], "dim": embedder[1]},
        "index_format": index_format,
        "vectors": vectors,
    }


def memory_doc(m: MemoryRecord, vector: np.ndarray | None, terms: list[str] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "memory",
        "id": m.id,
        "text": m.text,
        "kind": m.kind.value,
        "user_id": m.user_id,
        "agent_id": m.agent_id,
        "run_id": m.run_id,
        "metadata": m.metadata,
        "role": m.role,
        "actor": m.actor,
        "source_ids": list(m.source_ids),
        "event_time": _iso(m.event_time),
        "created_at": _iso(m.created_at),
        "updated_at": _iso(m.updated_at),
        "hash": m.hash,
        "valid_from": _iso(m.valid_from),
        "valid_to": _iso(m.valid_to),
    }
    if vector is not None and terms is not None:
        raw = np.ascontiguousarray(vector, dtype="<f4").tobytes()
        doc["index"] = {"vector": base64.b64encode(raw).decode("ascii"), "terms": list(terms)}
    return doc


def history_doc(h: HistoryDraft) -> dict[str, Any]:
    return {
        "type": "history",
        "memory_id": h.memory_id,
        "event": h.event.value,
        "old_text": h.old_text,
        "new_text": h.new_text,
        "actor": h.actor,
        "created_at": _iso(h.created_at),
        "details": h.details,
        "user_id": h.scope.user_id,
        "agent_id": h.scope.agent_id,
        "run_id": h.scope.run_id,
    }


def entity_doc(e: EntityRow) -> dict[str, Any]:
    return {
        "type": "entity",
        "id": e.id,
        "owner": list(e.owner),
        "name": e.name,
        "normal": e.normal,
        "entity_type": e.type,
        "names": [list(n) for n in e.names],
        "created_at": _iso(e.created_at),
    }


def relation_doc(r: RelationRow) -> dict[str, Any]:
    return {
        "type": "relation",
        "id": r.id,
        "user_id": r.user_id,
        "agent_id": r.agent_id,
        "source_id": r.source_id,
        "relation": r.relation,
        "target_id": r.target_id,
        "memory_id": r.memory_id,
        "run_id": r.run_id,
        "valid_from": _iso(r.valid_from),
        "valid_to": _iso(r.valid_to),
        "reason": r.reason,
        "created_at": _iso(r.created_at),
        "mentions": [
            {"memory_id": m.memory_id, "run_id": m.run_id, "valid_to": _iso(m.valid_to)} for m in r.mentions
        ],
    }


def end_doc(counts: dict[str, int]) -> dict[str, Any]:
    return {"type": "end", "counts": {t: counts.get(t, 0) for t in TYPES}}


# -- reading --------------------------------------------------------------------
class _Reader:
    """Typed access to one parsed line; every error names the line and the field."""

    def __init__(self, doc: dict[str, Any], number: int) -> None:
        self.doc = doc
        self.number = number

    def fail(self, message: str) -> InvalidInputError:
        return InvalidInputError(f"line {self.number}: {message}", field="file")

    def any(self, key: str) -> Any:
        if key not in self.doc:
            raise self.fail(f"missing {key!r}")
        return self.doc[key]

    def text(self, key: str) -> str:
        value = self.any(key)
        if not isinstance(value, str):
            raise self.fail(f"{key!r} must be a string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self.any(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(f"{key!r} must be a string or null")
        return value

    def time(self, key: str) -> datetime:
        value = self.opt_time(key)
        if value is None:
            raise self.fail(f"{key!r} must be a time")
        return value

    def opt_time(self, key: str) -> datetime | None:
        value = self.opt_text(key)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(f"{key!r} is not an ISO 8601 time: {value!r}") from None
        if parsed.tzinfo is None:
            raise self.fail(f"{key!r} has no time zone: {value!r}")
        return parsed

    def obj(self, key: str) -> dict[str, Any]:
        value = self.any(key)
        if not isinstance(value, dict):
            raise self.fail(f"{key!r} must be an object")
        return value

    def seq(self, key: str) -> list[Any]:
        value = self.any(key)
        if not isinstance(value, list):
            raise self.fail(f"{key!r} must be a list")
        return value

    def texts(self, key: str) -> list[str]:
        value = self.seq(key)
        if not all(isinstance(v, str) for v in value):
            raise self.fail(f"{key!r} must be a list of strings")
        return value


def _header(r: _Reader) -> Header:
    if r.doc.get("kind") != KIND:
        raise r.fail(f"not a memoryd export (kind {r.doc.get('kind')!r})")
    version = r.any("format")
    if not isinstance(version, int) or version < 1:
        raise r.fail("'format' must be a positive integer")
    if version > FORMAT:
        raise r.fail(f"written in export format {version} by a newer memoryd; this one reads format {FORMAT}")
    embedder = r.obj("embedder")
    name, dim = embedder.get("name"), embedder.get("dim")
    if not isinstance(name, str) or not isinstance(dim, int):
        raise r.fail("'embedder' must be {\"name\": string, \"dim\": integer}")
    scope_doc = r.any("scope")
    scope = None
    if scope_doc is not None:
        if not isinstance(scope_doc, dict) or set(scope_doc) - {"user_id", "agent_id", "run_id"}:
            raise r.fail("'scope' must be null or an object of user_id, agent_id, run_id")
        scope = Scope(**scope_doc)
    vectors = r.any("vectors")
    if not isinstance(vectors, bool):
        raise r.fail("'vectors' must be true or false")
    return Header(version, r.time("exported_at"), scope, (name, dim), r.text("index_format"), vectors)


def _memory(r: _Reader) -> MemoryLine:
    try:
        kind = MemoryKind(r.text("kind"))
    except ValueError:
        raise r.fail(f"unknown memory kind {r.doc['kind']!r}") from None
    record = MemoryRecord(
        id=r.text("id"),
        text=r.text("text"),
        kind=kind,
        user_id=r.opt_text("user_id"),
        agent_id=r.opt_text("agent_id"),
        run_id=r.opt_text("run_id"),
        metadata=r.obj("metadata"),
        role=r.opt_text("role"),
        actor=r.opt_text("actor"),
        source_ids=tuple(r.texts("source_ids")),
        event_time=r.opt_time("event_time"),
        created_at=r.time("created_at"),
        updated_at=r.time("updated_at"),
        hash=r.text("hash"),
        valid_from=r.time("valid_from"),
        valid_to=r.opt_time("valid_to"),
    )
    if record.user_id is None and record.agent_id is None and record.run_id is None:
        raise r.fail("a memory needs a scope: user_id, agent_id or run_id")
    index = r.doc.get("index")
    if index is None:
        return MemoryLine(record)
    ir = _Reader(index, r.number) if isinstance(index, dict) else None
    if ir is None:
        raise r.fail("'index' must be an object")
    try:
        raw = base64.b64decode(ir.text("vector"), validate=True)
    except ValueError:
        raise r.fail("'index.vector' is not base64") from None
    if not raw or len(raw) % 4:
        raise r.fail("'index.vector' is not a list of float32 numbers")
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return MemoryLine(record, vector, ir.texts("terms"))


def _history(r: _Reader) -> HistoryDraft:
    try:
        event = Event(r.text("event"))
    except ValueError:
        raise r.fail(f"unknown history event {r.doc['event']!r}") from None
    scope = Scope(r.opt_text("user_id"), r.opt_text("agent_id"), r.opt_text("run_id"))
    return HistoryDraft(
        r.text("memory_id"), event, r.opt_text("old_text"), r.opt_text("new_text"), r.text("actor"),
        r.time("created_at"), r.obj("details"), scope,
    )  # fmt: skip


def _entity(r: _Reader) -> EntityRow:
    owner = r.seq("owner")
    if len(owner) != 3 or not all(o is None or isinstance(o, str) for o in owner) or not any(owner):
        raise r.fail("'owner' must be [user_id, agent_id, run_id] with at least one set")
    names = r.seq("names")
    if not all(isinstance(n, list) and len(n) == 2 and all(isinstance(x, str) for x in n) for n in names):
        raise r.fail("'names' must be a list of [normal, display] pairs")
    return EntityRow(
        r.text("id"), (owner[0], owner[1], owner[2]), r.text("name"), r.text("normal"),
        r.opt_text("entity_type"), tuple((n[0], n[1]) for n in names), r.time("created_at"),
    )  # fmt: skip


def _relation(r: _Reader) -> RelationRow:
    mentions = []
    for item in r.seq("mentions"):
        if not isinstance(item, dict):
            raise r.fail("'mentions' must be a list of objects")
        m = _Reader(item, r.number)
        mentions.append(MentionRow(m.text("memory_id"), m.opt_text("run_id"), m.opt_time("valid_to")))
    return RelationRow(
        r.text("id"), r.opt_text("user_id"), r.opt_text("agent_id"), r.text("source_id"), r.text("relation"),
        r.text("target_id"), r.text("memory_id"), r.opt_text("run_id"), r.time("valid_from"),
        r.opt_time("valid_to"), r.opt_text("reason"), r.time("created_at"), tuple(mentions),
    )  # fmt: skip


def _end(r: _Reader) -> End:
    counts = r.obj("counts")
    if not all(isinstance(counts.get(t), int) for t in TYPES):
        raise r.fail(f"'counts' must give an integer for each of {', '.join(TYPES)}")
    return End({t: counts[t] for t in TYPES})


_PARSERS: dict[str, Callable[[_Reader], Line]] = {
    "header": _header,
    "memory": _memory,
    "history": _history,
    "entity": _entity,
    "relation": _relation,
    "end": _end,
}


def parse_line(line: str, number: int) -> Line:
    """One line of an export as its typed row; :class:`InvalidInputError` naming the line if it is not."""
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"line {number}: not JSON ({exc.msg})", field="file") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"line {number}: not a JSON object", field="file")
    parser = _PARSERS.get(doc.get("type"))  # type: ignore[arg-type]
    if parser is None:
        known = ", ".join(_PARSERS)
        message = f"line {number}: unknown type {doc.get('type')!r} (known: {known})"
        raise InvalidInputError(message, field="file")
    try:
        return parser(_Reader(doc, number))
    except InvalidInputError as exc:
        if exc.message.startswith(f"line {number}:"):
            raise
        raise InvalidInputError(f"line {number}: {exc.message}", field="file") from None
