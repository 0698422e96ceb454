"""Ids and scopes under any input (hypothesis): ``Scope`` accepts exactly the storable non-blank
strings with no control character (``require_utf8`` the storable ones), ``check_text`` finds a
lone surrogate anywhere in a JSON value and names its path, and ``check_event_id`` accepts exactly
its documented alphabet. Every refusal is an ``InvalidInputError`` (422) naming the field; nothing
else is ever raised."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memoryd.errors import InvalidInputError
from memoryd.models import Scope, require_utf8
from memoryd.pipeline.events import check_event_id
from memoryd.server.schemas import check_text
from tests.storage.helpers import record

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None)
NAMES = ("user_id", "agent_id", "run_id")

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates included
IDS = (
    st.none()
    | ANY_TEXT
    | st.sampled_from(["", " ", "\t\n", "\u3000", "alice", "ana\ud800", "😀", "אליס", "a\x00b", "\u202e"])
    | st.integers()
    | st.booleans()
    | st.lists(st.text(max_size=3), max_size=2)
)


def storable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    controls = isinstance(value, str) and any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value)
    return isinstance(value, str) and bool(value.strip()) and storable(value) and not controls


@SETTINGS
@given(IDS, IDS, IDS)
def test_scope_accepts_exactly_storable_non_blank_strings_with_no_control_character(user: Any, agent: Any, run: Any) -> None:
    values = dict(zip(NAMES, (user, agent, run), strict=True))
    try:
        scope = Scope(**values)
    except InvalidInputError as exc:
        assert exc.status_code == 422 and exc.field in NAMES
        assert not _valid_id(values[exc.field])  # the named field is the bad one ...
        assert all(_valid_id(values[n]) for n in NAMES[: NAMES.index(exc.field)])  # ... the first
        return
    assert all(_valid_id(v) for v in values.values())
    assert scope.is_empty == all(v is None for v in values.values())
    assert scope.items() == [(n, v) for n, v in values.items() if v is not None]
    if scope.is_empty:
        with pytest.raises(InvalidInputError) as info:
            scope.require()
        assert info.value.field == "user_id"
    else:
        assert scope.require() is scope


@SETTINGS
@given(
    st.tuples(*[st.sampled_from([None, "a", "b"])] * 3),
    st.tuples(*[st.sampled_from([None, "a", "b"])] * 3),
)
def test_a_scope_contains_exactly_the_memories_it_names(
    scope_ids: tuple[str | None, ...], memory_ids: tuple[str | None, ...]
) -> None:
    scope = Scope(*scope_ids)
    memory = record("x", user_id=memory_ids[0], agent_id=memory_ids[1], run_id=memory_ids[2])
    expected = all(s is None or s == m for s, m in zip(scope_ids, memory_ids, strict=True))
    assert scope.contains(memory) == expected


@SETTINGS
@given(ANY_TEXT, st.sampled_from(["memory_id", "query", "messages.0.content"]))
def test_require_utf8_refuses_exactly_lone_surrogates(value: str, field: str) -> None:
    if storable(value):
        assert require_utf8(value, field) is value
    else:
        with pytest.raises(InvalidInputError) as info:
            require_utf8(value, field)
        assert info.value.field == field and info.value.status_code == 422


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=12,
)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@SETTINGS
@given(JSON)
def test_check_text_finds_any_lone_surrogate_and_names_its_path(value: Any) -> None:
    bad = not all(storable(s) for s in _strings(value))
    if not bad:
        check_text(value, "metadata")
        return
    with pytest.raises(InvalidInputError) as info:
        check_text(value, "metadata")
    field = info.value.field
    assert field is not None and (field == "metadata" or field.startswith("metadata."))


EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")


@SETTINGS
@given(
    st.text(st.sampled_from("aZ09._:@- \n/é"), max_size=130)
    | ANY_TEXT
    | st.integers()
    | st.none()
    | st.sampled_from(["a" * 128, "a" * 129, "x\n", "١٢٣"])
)
def test_event_ids_accept_exactly_the_documented_alphabet(value: Any) -> None:
    ok = isinstance(value, str) and 1 <= len(value) <= 128 and EVENT_ID.fullmatch(value) is not None
    ok = ok and all(c.isascii() for c in value)
    if ok:
        assert check_event_id(value) == value
    else:
        with pytest.raises(InvalidInputError) as info:
            check_event_id(value)
        assert info.value.field == "event_id"
