"""Filters: parsing errors name the field; SQL and the reference semantics agree."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoryd import AsyncMemory
from memoryd.config import load_settings
from memoryd.errors import InvalidFilterError
from memoryd.filters import And, Cond, Not, Or, matches, parse_filter
from memoryd.models import Scope
from memoryd.storage import build_storage
from tests.storage.helpers import adds, record, unit


def test_parse_shapes() -> None:
    assert parse_filter(None) is None
    assert parse_filter({}) is None
    assert parse_filter({"topic": "x"}) == Cond("metadata.topic", "eq", "x")
    assert parse_filter({"kind": {"$in": ["fact"]}}) == Cond("kind", "in", ["fact"])
    tree = parse_filter({"OR": [{"a": 1}, {"NOT": {"b": {"gt": 2}}}], "role": "user"})
    assert tree == And(
        (Or((Cond("metadata.a", "eq", 1), Not(Cond("metadata.b", "gt", 2)))), Cond("role", "eq", "user"))
    )
    # Times are compared as epoch seconds.
    assert parse_filter({"created_at": {"gte": "1970-01-01T00:01:00Z"}}) == Cond("created_at", "gte", 60.0)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([1, 2], "filters"),
        ({"a": {"like": 1}}, "filters.a.like"),
        ({"a": {"in": "x"}}, "filters.a.in"),
        ({"a": {"gt": None}}, "filters.a.gt"),
        ({"a": {"eq": {"x": 1}}}, "filters.a.eq"),
        ({"AND": []}, "filters.AND"),
        ({"OR": {"a": 1}}, "filters.OR"),
        ({"we\x00ird": 1}, "filters.we\x00ird"),  # no stored key holds a NUL (metadata refuses it)
        ({"created_at": {"gt": "yesterday"}}, "filters.created_at.gt"),
        ({"a": {}}, "filters.a"),
        # what could match nothing, silently: a kind that does not exist, text looked for in a time
        ({"kind": "preferences"}, "filters.kind"),
        ({"kind": "Preference"}, "filters.kind"),
        ({"kind": {"in": ["fact", "facts"]}}, "filters.kind.in"),
        ({"created_at": {"contains": "2026"}}, "filters.created_at.contains"),
        # ... a number or a boolean compared with a text field, an empty time
        ({"user_id": 5}, "filters.user_id"),
        ({"run_id": {"in": ["r1", 2]}}, "filters.run_id.in"),
        ({"id": {"ne": True}}, "filters.id.ne"),
        ({"created_at": {"gte": ""}}, "filters.created_at.gte"),
        ({"event_time": " "}, "filters.event_time"),
    ],
)
def test_bad_filters_name_the_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_filter(raw)
    assert info.value.field == field
    assert info.value.status_code == 422


def test_depth_limit() -> None:
    deep: dict = {"a": 1}
    for _ in range(10):
        deep = {"NOT": deep}
    with pytest.raises(InvalidFilterError, match="deeper"):
        parse_filter(deep, max_depth=8)


_values = st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y", "Xy", "é"]), st.booleans(), st.none())
# kind: its values are checked. Keys no JSON path can name (a quote, empty, a backslash, a control
# character) were refused as "invalid field name", though metadata holds them.
_ODD = ['q"t', "", "b\\s", "c\nl", "it's"]
_fields = st.sampled_from(["a", "b", "tags", "role", "run_id", *_ODD])
_TEXT = ("role", "run_id")  # built-in text fields: compared with strings only (else refused)


def _fit(field: str, value: object) -> object:
    """``value`` as a filter on ``field`` takes it: a text field's numbers and booleans as strings."""
    if isinstance(value, list):
        return [_fit(field, v) for v in value]
    return str(value) if field in _TEXT and value is not None and not isinstance(value, str) else value


def _leaf() -> st.SearchStrategy[dict]:
    scalar_ops = st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"])
    return st.one_of(
        st.builds(lambda f, v: {f: _fit(f, v)}, _fields, _values),
        st.builds(
            lambda f, o, v: {f: {o: _fit(f, v)}},
            _fields,
            scalar_ops,
            st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y"])),
        ),
        st.builds(
            lambda f, o, vs: {f: {o: _fit(f, vs)}},
            _fields,
            st.sampled_from(["in", "nin"]),
            st.lists(_values, max_size=3),
        ),
        st.builds(lambda f, v: {f: {"contains": v}}, _fields, st.sampled_from(["x", "Y", 1, "é"])),
        st.builds(lambda f: {f: "*"}, _fields),  # mem0's wildcard
        st.builds(lambda f, v: {f: {"icontains": v}}, _fields, st.sampled_from(["X", "y"])),
    )


_filters = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"AND": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"OR": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"NOT": x}, inner),
        st.builds(lambda xs: {"NOT": xs}, st.lists(inner, min_size=1, max_size=2)),  # mem0's form
    ),
    max_leaves=6,
)

_docs = [
    record("d0", metadata={"a": 1, "b": "x", "tags": ["x", "y"], 'q"t': "x", "": 1, "it's": ["x", 2]}),
    record("d1", metadata={"a": "1", "b": "XY", "tags": "xylophone", "b\\s": "Xy", "c\nl": [1, "y"]}, role="assistant"),
    record("d2", metadata={"a": True, "b": None, "tags": [1, 2], 'q"t': ["y", 1], "": None, "c\nl": True}),
    record("d3", metadata={"a": 2.5, "tags": [], "": "x", "b\\s": -3, "it's": "Xylo"}),
    record("d4", metadata={}),
    record("d5", metadata={"a": -3, "b": "é", "tags": ["Y", "é"], 'q"t': 2.5, "c\nl": "é", "it's": None}),
]


@pytest.fixture(scope="module")
def filter_store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = Path(tmp_path_factory.mktemp("filters")) / "f.db"
    storage = build_storage(load_settings(env={}, overrides={"storage": {"path": str(path)}}))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(storage.open("m", 8))
    loop.run_until_complete(storage.commit(adds(*[(d, unit(1)) for d in _docs])))
    yield storage, loop
    loop.run_until_complete(storage.close())
    loop.close()


def test_mem0_filter_forms(filter_store) -> None:  # type: ignore[no-untyped-def]
    storage, loop = filter_store

    def ids(raw: dict) -> set[str]:
        tree = parse_filter(raw)
        got = set(loop.run_until_complete(storage.records.select_ids(Scope("u1"), tree)))
        assert got == {d.id for d in _docs if matches(d, tree)}
        return {d.text for d in _docs if d.id in got}

    assert ids({"b": "*"}) == {"d0", "d1", "d5"}  # any value; JSON null counts as absent
    assert ids({"b": {"icontains": "xy"}}) == ids({"b": {"contains": "XY"}}) == {"d1"}
    assert ids({"NOT": [{"b": "*"}, {"a": 1}]}) == ids({"NOT": {"AND": [{"b": "*"}, {"a": 1}]}})
    assert ids({"NOT": [{"b": "*"}]}) == {"d2", "d3", "d4"}
    with pytest.raises(InvalidFilterError):
        parse_filter({"NOT": []})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=_filters)
def test_sql_matches_reference_semantics(filter_store, raw: dict) -> None:  # type: ignore[no-untyped-def]
    storage, loop = filter_store
    tree = parse_filter(raw, max_depth=20)
    want = {d.id for d in _docs if matches(d, tree)}
    got = set(loop.run_until_complete(storage.records.select_ids(Scope("u1"), tree)))
    assert got == want, raw


@pytest.mark.parametrize(
    "raw", [{"n": {"ne": math.nan}}, {"n": {"nin": [math.nan]}}, {"NOT": {"n": math.nan}}, {"n": math.nan}]
)
async def test_nan_is_refused_rather_than_matching_nothing(amem: AsyncMemory, raw: dict) -> None:
    # SQL compares with NaN as NULL: "n != NaN" and NOT (n = NaN) kept nothing, though every memory
    # differs from NaN (and the select cache's reference evaluation said so).
    await amem.add("I love red apples", user_id="u", metadata={"n": 1})
    with pytest.raises(InvalidFilterError) as info:
        await amem.search("apples", user_id="u", filters=raw)
    assert info.value.status_code == 422
    with pytest.raises(InvalidFilterError):
        await amem.get_all(user_id="u", filters=raw)


@pytest.mark.parametrize(
    "raw", [{"n": {"ne": math.inf}}, {"n": {"lt": -math.inf}}, {"n": {"in": [1, math.inf]}}]
)
async def test_an_infinite_number_is_refused_as_out_of_range(amem: AsyncMemory, raw: dict) -> None:
    # a JSON number too large for a float (1e400) reads as inf: no stored value is one, so it is a mistake
    await amem.add("I love red apples", user_id="u", metadata={"n": 1})
    with pytest.raises(InvalidFilterError) as info:
        await amem.search("apples", user_id="u", filters=raw)
    assert info.value.status_code == 422 and "finite" in info.value.message


async def test_event_time_of_a_memory_added_without_one_is_when_it_was_added(amem: AsyncMemory) -> None:
    """A memory added without ``timestamp`` was said when it was added, as search reads it: an
    ``event_time`` filter treated it as never said (``gte 2000`` left it out, ``NOT`` of that kept
    it), in the listing and in search alike."""
    await amem.add("I adopted a dog today", user_id="u")
    await amem.add("I adopted a cat", user_id="u", timestamp="2024-05-01T10:00:00Z")
    since_2000 = {"event_time": {"gte": "2000-01-01"}}
    for flt, want in ((since_2000, {"dog", "cat"}), ({"NOT": since_2000}, set()),
                      ({"event_time": {"lt": "2025-01-01"}}, {"cat"})):  # fmt: skip
        listed = (await amem.get_all(user_id="u", filters={"AND": [flt, {"kind": "episode"}]})).items
        found = await amem.search("adopted a pet", user_id="u", filters={"AND": [flt, {"kind": "episode"}]})
        for memories in ([m for m in listed], [h.memory for h in found]):
            assert {w for m in memories for w in ("dog", "cat") if w in m.text} == want, flt
