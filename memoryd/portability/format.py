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
    {"type": "tier_segment", "id", "owner": [user_id, agent_id, run_id], "label",
     "keywords": [[word, count], ...], "turns", "retrievals", "created_at", "touched_at",
     "last_run_id", "tier": "mid" | "evicted", "promoted_at", "promotions", "level",
     "index": {"centroid": base64 float32 little-endian} (optional)}
    {"type": "tier_turn", "memory_id", "owner": [user_id, agent_id, run_id], "run_id", "at",
     "level", "segment_id" (null: short-term), "words": [...] | null,
     "index": {"vector": base64 float32 little-endian} (optional; short-term turns only)}
    {"type": "end", "counts": {"memory": n, "history": n, "entity": n, "relation": n,
     "tier_segment": n, "tier_turn": n}}

Times are ISO 8601 UTC with microseconds. Memories come oldest first, history in
the order written, entities before the relations that name them, then the memory
hierarchy (:mod:`memoryd.hierarchy`): its segments in the order written and its turns
in the order they entered it. The ``end`` line makes a truncated file detectable.
A line names only what an earlier line holds, but for what was deleted before the export
(a deleted memory's history, the turns a memory's ``source_ids`` name): an import refuses
any other reference (:mod:`memoryd.portability.references`).
A memory's ``index`` is its stored vector and keyword terms, reused on import when
the target's embedder and index format are the header's; without it the memory is
embedded again. Likewise a segment's centroid and a short-term turn's vector (its
``index``) are reused then, and otherwise recomputed from the memories' new vectors.
Files written before the hierarchy was exported have no ``tier_*`` lines nor counts;
they read as having none.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from memoryd import __version__
from memoryd.errors import InvalidInputError
from memoryd.hierarchy.models import EVICTED, MID, Segment, owner_key
from memoryd.models import Event, MemoryKind, MemoryRecord, Scope, from_epoch
from memoryd.storage import HistoryDraft
from memoryd.storage.base import StoredTurn
from memoryd.storage.portable import EntityRow, MentionRow, RelationRow
from memoryd.unicode import lone_surrogate_at

__all__ = [
    "FORMAT",
    "KIND",
    "NO_VECTOR",
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
    "tier_segment_doc",
    "tier_turn_doc",
]

KIND = "memoryd-export"
FORMAT = 1
TYPES = ("memory", "history", "entity", "relation", "tier_segment", "tier_turn")  # counted, in file order
_LATER_TYPES = ("tier_segment", "tier_turn")  # an end line of an older file may lack their counts


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


Line = Header | MemoryLine | HistoryDraft | EntityRow | RelationRow | Segment | StoredTurn | End


def dumps(doc: dict[str, Any]) -> str:
    """One line of the file (compact JSON, UTF-8 kept as is)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds")


def _epoch_iso(value: float | None) -> str | None:
    """An epoch time of the hierarchy as ISO (exact: its times come from aware datetimes; the last
    microseconds of year 9999 are stored as 10000-01-01, read as the end of the range: the same float)."""
    return _iso(from_epoch(value))


def _b64(vector: np.ndarray) -> str:
    raw = np.ascontiguousarray(vector, dtype="<f4").tobytes()
    return base64.b64encode(raw).decode("ascii")


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
        doc["index"] = {"vector": _b64(vector), "terms": list(terms)}
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


def tier_segment_doc(s: Segment, *, vectors: bool = True) -> dict[str, Any]:
    """A segment as stored; ``vectors``: with its centroid."""
    doc: dict[str, Any] = {
        "type": "tier_segment",
        "id": s.id,
        "owner": json.loads(s.owner),
        "label": s.label,
        "keywords": [[w, n] for w, n in s.keywords],
        "turns": s.turns,
        "retrievals": s.retrievals,
        "created_at": _epoch_iso(s.created_at),
        "touched_at": _epoch_iso(s.touched_at),
        "last_run_id": s.last_run_id,
        "tier": s.tier,
        "promoted_at": _epoch_iso(s.promoted_at),
        "promotions": s.promotions,
        "level": s.level,
    }
    if vectors and s.centroid.size:
        doc["index"] = {"centroid": _b64(s.centroid)}
    return doc


def tier_turn_doc(t: StoredTurn, *, vectors: bool = True) -> dict[str, Any]:
    """A turn as stored; ``vectors``: with its vector, if it keeps one (short-term)."""
    doc: dict[str, Any] = {
        "type": "tier_turn",
        "memory_id": t.memory_id,
        "owner": json.loads(t.owner),
        "run_id": t.run_id,
        "at": _epoch_iso(t.at),
        "level": t.level,
        "segment_id": t.segment_id,
        "words": None if t.words is None else list(t.words),
    }
    if vectors and t.vector is not None and t.vector.size:
        doc["index"] = {"vector": _b64(t.vector)}
    return doc


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

    def ident(self, key: str) -> str:
        """An id: a string with something in it (an empty id names nothing and cannot be read back)."""
        value = self.text(key)
        if not value.strip():
            raise self.fail(f"{key!r} must be a non-empty string")
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

    def count(self, key: str) -> int:
        value = self.any(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
            raise self.fail(f"{key!r} must be a whole number from 0 to 2**63 - 1")
        return value

    def epoch(self, key: str) -> float:
        return self.time(key).timestamp()

    def opt_epoch(self, key: str) -> float | None:
        value = self.opt_time(key)
        return None if value is None else value.timestamp()

    def floats(self, key: str) -> np.ndarray:
        """A base64 list of float32 numbers (little-endian) of the line's ``index``."""
        redo = "a damaged file: delete the line's \"index\" (the import computes it again), or export again"
        try:
            raw = base64.b64decode(self.text(key), validate=True)
        except ValueError:
            raise self.fail(f"'index.{key}' is not base64; {redo}") from None
        if not raw or len(raw) % 4:
            raise self.fail(f"'index.{key}' is not base64 float32 numbers ({len(raw)} bytes); {redo}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)

    def index(self) -> _Reader | None:
        """The line's optional ``index`` object."""
        index = self.doc.get("index")
        if index is None:
            return None
        if not isinstance(index, dict):
            raise self.fail("'index' must be an object")
        return _Reader(index, self.number)

    def owner(self) -> Scope:
        owner = self.seq("owner")
        if len(owner) != 3 or not all(o is None or isinstance(o, str) for o in owner) or not any(owner):
            raise self.fail("'owner' must be [user_id, agent_id, run_id] with at least one set")
        try:
            return Scope(owner[0], owner[1], owner[2])
        except InvalidInputError as exc:  # an id the API refuses: what it owns could not be read
            raise self.fail(f"'owner': {exc.message}") from None

    def scope(self) -> Scope:
        """The line's ``user_id``, ``agent_id`` and ``run_id``, each an id as the API takes it (an
        empty or blank one would import what no request could name)."""
        return Scope(self.opt_text("user_id"), self.opt_text("agent_id"), self.opt_text("run_id"))


def _header(r: _Reader) -> Header:
    if r.doc.get("kind") != KIND:
        said = "has no 'kind'" if r.doc.get("kind") is None else f"says kind {r.doc['kind']!r}"
        raise r.fail(f"not a memoryd export: its header {said} (a memoryd export's is {KIND!r})")
    version = r.any("format")
    if type(version) is not int or version < 1:
        raise r.fail("'format' must be a positive integer")
    if version > FORMAT:
        by = r.doc.get("memoryd")
        by = f" (by memoryd {by})" if isinstance(by, str) and by else ""
        raise r.fail(
            f"written in export format {version}{by}, which only a newer memoryd reads; this one reads "
            f"format {FORMAT}: upgrade memoryd to import it"
        )
    embedder = r.obj("embedder")
    name, dim = embedder.get("name"), embedder.get("dim")
    if not isinstance(name, str) or type(dim) is not int:
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
        known = ", ".join(k.value for k in MemoryKind)
        raise r.fail(f"unknown memory kind {r.doc['kind']!r} (known: {known})") from None
    scope = r.scope()
    record = MemoryRecord(
        id=r.ident("id"),
        text=r.text("text"),
        kind=kind,
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        run_id=scope.run_id,
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
    if record.valid_to is not None and record.valid_to < record.valid_from:
        raise r.fail("'valid_to' is before 'valid_from': a memory cannot end before it begins")
    ir = r.index()
    if ir is None:
        return MemoryLine(record)
    return MemoryLine(record, ir.floats("vector"), ir.texts("terms"))


def _history(r: _Reader) -> HistoryDraft:
    try:
        event = Event(r.text("event"))
    except ValueError:
        known = ", ".join(e.value for e in Event)
        raise r.fail(f"unknown history event {r.doc['event']!r} (known: {known})") from None
    return HistoryDraft(
        r.ident("memory_id"), event, r.opt_text("old_text"), r.opt_text("new_text"), r.text("actor"),
        r.time("created_at"), r.obj("details"), r.scope(),
    )  # fmt: skip


def _entity(r: _Reader) -> EntityRow:
    owner = r.owner()
    names = r.seq("names")
    if not all(isinstance(n, list) and len(n) == 2 and all(isinstance(x, str) for x in n) for n in names):
        raise r.fail("'names' must be a list of [normal, display] pairs")
    return EntityRow(
        r.ident("id"), (owner.user_id, owner.agent_id, owner.run_id), r.text("name"), r.text("normal"),
        r.opt_text("entity_type"), tuple((n[0], n[1]) for n in names), r.time("created_at"),
    )  # fmt: skip


def _relation(r: _Reader) -> RelationRow:
    mentions = []
    for item in r.seq("mentions"):
        if not isinstance(item, dict):
            raise r.fail("'mentions' must be a list of objects")
        m = _Reader(item, r.number)
        mentions.append(MentionRow(m.ident("memory_id"), m.opt_text("run_id"), m.opt_time("valid_to")))
    scope = r.scope()
    return RelationRow(
        r.ident("id"), scope.user_id, scope.agent_id, r.ident("source_id"), r.text("relation"),
        r.ident("target_id"), r.ident("memory_id"), scope.run_id, r.time("valid_from"),
        r.opt_time("valid_to"), r.opt_text("reason"), r.time("created_at"), tuple(mentions),
    )  # fmt: skip


NO_VECTOR = np.zeros(0, dtype=np.float32)  # a segment line without its centroid (no ``index``)


def _tier_segment(r: _Reader) -> Segment:
    """A segment line; its centroid is :data:`NO_VECTOR` when the line has no ``index``."""
    owner = r.owner()
    tier = r.text("tier")
    if tier not in (MID, EVICTED):
        raise r.fail(f"'tier' must be {MID!r} or {EVICTED!r}, not {tier!r}")
    keywords = r.seq("keywords")
    if not all(
        isinstance(k, list) and len(k) == 2 and isinstance(k[0], str) and type(k[1]) is int for k in keywords
    ):
        raise r.fail("'keywords' must be a list of [word, count] pairs")
    ir = r.index()
    return Segment(
        id=r.ident("id"), owner=owner_key(owner), user_id=owner.user_id, agent_id=owner.agent_id,
        label=r.text("label"), keywords=tuple((k[0], k[1]) for k in keywords),
        centroid=NO_VECTOR if ir is None else ir.floats("centroid"), turns=r.count("turns"),
        retrievals=r.count("retrievals"), created_at=r.epoch("created_at"), touched_at=r.epoch("touched_at"),
        last_run_id=r.opt_text("last_run_id"), tier=tier, promoted_at=r.opt_epoch("promoted_at"),
        promotions=r.count("promotions"), level=r.count("level"),
    )  # fmt: skip


def _tier_turn(r: _Reader) -> StoredTurn:
    """A turn line; a short-term turn's vector is None when the line has no ``index``."""
    owner = r.owner()
    words = r.any("words")
    if words is not None and not (isinstance(words, list) and all(isinstance(w, str) for w in words)):
        raise r.fail("'words' must be a list of strings or null")
    ir = r.index()
    return StoredTurn(
        r.ident("memory_id"), owner_key(owner), owner.user_id, owner.agent_id, r.opt_text("run_id"),
        r.epoch("at"), r.count("level"), r.opt_text("segment_id"),
        None if ir is None else ir.floats("vector"), None if words is None else tuple(words),
    )  # fmt: skip


def _end(r: _Reader) -> End:
    counts = r.obj("counts")
    for t in _LATER_TYPES:
        counts.setdefault(t, 0)
    if not all(type(counts.get(t)) is int for t in TYPES):
        raise r.fail(f"'counts' must give an integer for each of {', '.join(TYPES)}")
    return End({t: counts[t] for t in TYPES})


_PARSERS: dict[str, Callable[[_Reader], Line]] = {
    "header": _header,
    "memory": _memory,
    "history": _history,
    "entity": _entity,
    "relation": _relation,
    "tier_segment": _tier_segment,
    "tier_turn": _tier_turn,
    "end": _end,
}


# A JSON escape of a UTF-16 surrogate: only then can a parsed string hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_line(line: str, number: int) -> Line:
    """One line of an export as its typed row; :class:`InvalidInputError` naming the line if it is not."""
    try:
        doc = json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"line {number}: not JSON ({exc.msg})", field="file") from None
    except ValueError as exc:  # NaN, Infinity: Python reads them, no store can write them back out
        raise InvalidInputError(f"line {number}: not JSON ({exc})", field="file") from None
    except RecursionError:
        message = f"line {number}: nested too deeply to be a memoryd line"
        raise InvalidInputError(message, field="file") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"line {number}: not a JSON object", field="file")
    if _SURROGATE_ESCAPE.search(line):
        where = lone_surrogate_at(doc, top="")
        if where is not None:
            what = repr(where) if where else "a field name"
            message = f"line {number}: {what} is not valid Unicode text (lone surrogate)"
            raise InvalidInputError(message, field="file")
    kind = doc.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
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
