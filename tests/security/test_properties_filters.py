"""Filters under arbitrary input (hypothesis): parse or refuse cleanly, honour the depth and size
limits, and evaluate in SQLite exactly as the Python reference does on generated records."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoryd.config import load_settings
from memoryd.errors import InvalidFilterError
from memoryd.filters import MAX_FILTER_TERMS, OPERATORS, And, Cond, Filter, Not, Or, matches, parse_filter
from memoryd.models import MemoryKind, MemoryRecord, Scope
from memoryd.storage import Storage, build_storage
from tests.storage.helpers import T0, adds, record, unit

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None)

# Keys a hostile or careless client might send: logical words, operators, built-in fields,
# metadata paths, and odd names (quotes, control characters, RTL, emoji, empty).
KEYS = st.sampled_from(
    ["AND", "OR", "NOT", "$and", "$or", "$not", "and", *OPERATORS, "$in", "$gt", "like"]
    + ["kind", "role", "text", "user_id", "created_at", "event_time", "metadata.topic", "metadata."]
    + ["topic", "n", "tags", "", 'qu"ote', "back\\slash", "ctl\x01", "\u202eevil", "😀", "ключ", "键"]
) | st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["2024-01-01", "2024-01-01T00:00:00Z", "yesterday", "\ud800", "", "1e400"])
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)


def depth(node: Filter) -> int:
    """Levels of a parsed tree, counted as the parser counts them (one per JSON object)."""
    if isinstance(node, (And, Or)):
        return 1 + max(depth(n) for n in node.items)
    if isinstance(node, Not):
        return 1 + depth(node.item)
    return 1


def terms(node: Filter) -> int:
    if isinstance(node, (And, Or)):
        return sum(terms(n) for n in node.items)
    if isinstance(node, Not):
        return terms(node.item)
    return max(1, len(node.value)) if isinstance(node.value, list) else 1


@SETTINGS
@given(ANY_JSON, st.integers(min_value=1, max_value=6))
def test_any_json_parses_or_raises_invalid_filter(raw: Any, max_depth: int) -> None:
    try:
        tree = parse_filter(raw, max_depth=max_depth)
    except InvalidFilterError as exc:
        assert exc.status_code == 422 and exc.field and exc.field.startswith("filters"), exc
        assert exc.message
        return
    if tree is not None:
        assert isinstance(tree, (Cond, And, Or, Not))
        assert terms(tree) <= MAX_FILTER_TERMS
        matches(record("anything", metadata={"topic": "x"}), tree)  # evaluates without raising


def _nested(levels: int, shape: list[str]) -> dict[str, Any]:
    node: dict[str, Any] = {"topic": "x"}
    for i in range(levels - 1):
        kind = shape[i % len(shape)]
        node = {"NOT": node} if kind == "NOT" else {kind: [node, {"n": i}]}
    return node


@SETTINGS
@given(
    st.integers(min_value=1, max_value=14),
    st.integers(min_value=1, max_value=12),
    st.lists(st.sampled_from(["NOT", "AND", "OR", "$and", "or"]), min_size=1, max_size=4),
)
def test_depth_limit_is_exact(levels: int, max_depth: int, shape: list[str]) -> None:
    raw = _nested(levels, shape)
    if levels <= max_depth:
        tree = parse_filter(raw, max_depth=max_depth)
        assert tree is not None and depth(tree) == levels
    else:
        with pytest.raises(InvalidFilterError, match="deeper") as info:
            parse_filter(raw, max_depth=max_depth)
        assert info.value.field is not None and info.value.field.count(".") == max_depth


@SETTINGS
@given(st.integers(min_value=0, max_value=2 * MAX_FILTER_TERMS), st.integers(min_value=1, max_value=300))
def test_size_limit_is_exact(conditions: int, listed: int) -> None:
    raw = {"OR": [{"n": i} for i in range(conditions)] + [{"tags": {"nin": list(range(listed))}}]}
    total = conditions + listed
    if total <= MAX_FILTER_TERMS:
        tree = parse_filter(raw)
        assert tree is not None and terms(tree) == total
    else:
        with pytest.raises(InvalidFilterError, match="terms") as info:
            parse_filter(raw)
        assert info.value.field == "filters"


# ---- SQL agrees with the Python reference, on generated records and filters -------------

META_KEYS = ["topic", "n", "tags", "flag", "Ünï"]
TEXTS = ["Straße", "STRASSE", "İstanbul", "istanbul", "ǅ", "café", "CAFE\u0301", "x", "", "😀 emoji", "מים"]
META_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.sampled_from([2.5, -0.0, 1e300, 2**53 + 1])
    | st.sampled_from(TEXTS),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
)
RECORDS = st.lists(
    st.builds(
        lambda text, meta, role, kind, days: record(text, metadata=meta, role=role, kind=kind, days=days),
        st.sampled_from([t for t in TEXTS if t]),
        st.dictionaries(st.sampled_from(META_KEYS), META_VALUES, max_size=4),
        st.sampled_from(["user", "assistant"]),
        st.sampled_from(list(MemoryKind)),
        st.integers(min_value=-3, max_value=3),
    ),
    min_size=1,
    max_size=6,
)
FIELDS = st.sampled_from([*META_KEYS, "text", "role", "kind", "created_at", "metadata.n"])
OPERANDS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.sampled_from([2.5, 2**53 + 1])
    | st.sampled_from(TEXTS + ["user", "fact", "episode", "ss", "SS", "i̇", "E\u0301"])
)
TIMES = st.sampled_from([(T0 + timedelta(days=d)).isoformat() for d in (-2, 0, 1)])


KINDS = ("episode", "fact", "preference", "profile", "summary")
TEXT_FIELDS = ("text", "role", "kind")


def _leaf(field: str, op: str, operand: Any, listed: list[Any], when: str) -> dict[str, Any]:
    if field == "kind" and op in ("eq", "ne", "in", "nin"):  # no other value is a kind: a 422
        operand = operand if operand is None or operand in KINDS else "fact"
        listed = [v if v is None or v in KINDS else "episode" for v in listed]
    if field in TEXT_FIELDS and op != "contains":  # compared with strings only: else a 422
        operand = operand if operand is None or isinstance(operand, str) else str(operand)
        listed = [v if v is None or isinstance(v, str) else str(v) for v in listed]
    if field == "created_at" and op not in ("in", "nin", "contains"):
        return {field: {op: when}}
    if field == "created_at":
        return {field: {"gte": when}}
    if op in ("in", "nin"):
        return {field: {op: listed}}
    if op in ("gt", "gte", "lt", "lte") and (operand is None or isinstance(operand, bool)):
        return {field: {op: "1" if field in TEXT_FIELDS else 1}}
    if op == "contains" and (operand is None or isinstance(operand, bool)):
        return {field: {op: "s"}}
    return {field: operand} if op == "eq" else {field: {op: operand}}


LEAVES = st.builds(_leaf, FIELDS, st.sampled_from(OPERATORS), OPERANDS, st.lists(OPERANDS, max_size=3), TIMES)
FILTERS = st.recursive(
    LEAVES,
    lambda inner: (
        st.builds(lambda xs: {"AND": xs}, st.lists(inner, min_size=1, max_size=3))
        | st.builds(lambda xs: {"OR": xs}, st.lists(inner, min_size=1, max_size=3))
        | st.builds(lambda x: {"NOT": x}, inner)
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Storage, asyncio.AbstractEventLoop]]:
    path = Path(tmp_path_factory.mktemp("filter-props")) / "f.db"
    storage = build_storage(load_settings(env={}, overrides={"storage": {"path": str(path)}}))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(storage.open("m", 8))
    try:
        yield storage, loop
    finally:
        loop.run_until_complete(storage.close())
        loop.close()


_owners = itertools.count()


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(docs=RECORDS, raw=FILTERS)
def test_sql_agrees_with_the_reference_on_generated_records(
    store: tuple[Storage, asyncio.AbstractEventLoop], docs: list[MemoryRecord], raw: dict[str, Any]
) -> None:
    storage, loop = store
    owner = f"owner-{next(_owners)}"  # each example reads only its own records
    docs = [d.with_changes(user_id=owner) for d in docs]
    loop.run_until_complete(storage.commit(adds(*[(d, unit(1)) for d in docs])))
    tree = parse_filter(raw, max_depth=20)
    want = sorted(d.id for d in docs if matches(d, tree))
    got = sorted(loop.run_until_complete(storage.records.select_ids(Scope(owner), tree)))

    assert got == want, (raw, [(d.text, d.metadata, d.role, d.kind) for d in docs])
