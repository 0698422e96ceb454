"""The lenient JSON parser: hand-picked breakage, and properties over any text (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memoryd.llm.repair import parse_json, strip_think

FACTS = {"facts": [{"text": "lives in Lisbon", "kind": "fact"}, {"text": "likes tea", "kind": "preference"}]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('```json\n{"facts": ["a"]}\n```', {"facts": ["a"]}),
        ('Here you go:\n```\n{"facts": ["a"]}\n```\nAnything else?', {"facts": ["a"]}),
        ('```json\n{"facts": ["a", "b"', {"facts": ["a", "b"]}),  # unclosed fence, truncated
        ('{"facts": ["a", "b",],}', {"facts": ["a", "b"]}),
        ('{"facts": ["a", "b"', {"facts": ["a", "b"]}),
        ('{"facts": ["a", "unfinished str', {"facts": ["a"]}),
        ('{"facts": [{"text": "a"}, {"text": "b", "ki', {"facts": [{"text": "a"}]}),
        ('{"a": 1, "b": ', {"a": 1}),
        ('{"a": 1, "b"', {"a": 1}),
        ("[1, 2, 3", [1, 2]),  # a number at the very end may be cut short: dropped
        ('Sure! The facts are {"facts": ["a"]}. Hope that helps.', {"facts": ["a"]}),
        ('Sets like {a, b} aside, the answer: {"facts": ["a"]}', {"facts": ["a"]}),
        (
            "{'facts': ['it\\'s', \"x\"], 'ok': True, 'none': None}",
            {"facts": ["it's", "x"], "ok": True, "none": None},
        ),
        ('{facts: ["a"], count: 2}', {"facts": ["a"], "count": 2}),
        ('{"a": 1 "b": 2}', {"a": 1, "b": 2}),
        ('{"a" 1}', {"a": 1}),
        ('[{"a": 1} {"b": 2}]', [{"a": 1}, {"b": 2}]),
        ('{"a": 1, // a comment\n "b": /* another */ 2}', {"a": 1, "b": 2}),
        ('<think>maybe {"facts": ["wrong"]}</think>{"facts": ["right"]}', {"facts": ["right"]}),
        ('{"n": +1, "m": .5, "k": 01}', {"n": 1, "m": 0.5, "k": 1}),
        ('{"a": [1, 2}', {"a": [1, 2]}),  # mismatched closer closes the array first
        ('{"emoji": "\\ud83d\\ude00", "zh": "我住在北京",}', {"emoji": "😀", "zh": "我住在北京"}),
        ("[[1, 2], [3, 4", [[1, 2]]),
        ('{"facts": []}trailing garbage', {"facts": []}),
    ],
)
def test_repairs(text: str, expected: Any) -> None:
    parsed = parse_json(text)
    assert parsed.ok and parsed.value == expected, parsed
    assert parsed.repaired


@pytest.mark.parametrize("text", ["", "   ", "I could not find any facts.", "} ) ]", "```\n```"])
def test_nothing_to_find(text: str) -> None:
    parsed = parse_json(text)
    assert not parsed.ok and parsed.value is None and parsed.error


def test_valid_json_is_returned_untouched() -> None:
    parsed = parse_json(json.dumps(FACTS))
    assert parsed.ok and not parsed.repaired and parsed.value == FACTS


def test_deep_nesting_does_not_crash() -> None:
    assert parse_json("[" * 100_000).value == []  # every unfinished inner list is dropped
    assert parse_json("x " + "{" * 50_000 + '"a"').value == {}
    deep = parse_json("[" * 5_000 + "]" * 5_000)  # too deep for json.loads: not found, no crash
    assert deep.ok or deep.error


def test_strip_think() -> None:
    assert strip_think("<think>a</think>b") == "b"
    assert strip_think("  <THINK>never closed {") == ""
    # Only a leading block is reasoning; later "<think>" text is data (e.g. a JSON key).
    assert strip_think("<think>a</think>b<THINK>c</THINK>d") == "b<THINK>c</THINK>d"
    assert parse_json(': {"<THINK>": null} :').value == {"<THINK>": None}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    parsed = parse_json(text)
    assert parsed.ok or parsed.value is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("{}[]\"':,\\ abc1-.eE/*<>tn"), max_size=60))
def test_never_raises_on_bracket_soup(text: str) -> None:
    parse_json(text)


@settings(max_examples=200, deadline=None)
@given(json_values, st.booleans())
def test_valid_json_round_trips(value: Any, indent: bool) -> None:
    parsed = parse_json(json.dumps(value, indent=2 if indent else None, ensure_ascii=False))
    assert parsed.ok and not parsed.repaired and parsed.value == value


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=4), st.text(alphabet="abc .:!\n")
)
def test_an_object_inside_prose_is_found(value: dict[str, Any], prose: str) -> None:
    parsed = parse_json(f"{prose} {json.dumps(value)} {prose}")
    assert parsed.ok and parsed.value == value


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers() | st.text(max_size=6), max_size=6), st.data())
def test_a_truncated_list_gives_a_prefix_of_its_items(items: list[Any], data: st.DataObject) -> None:
    text = json.dumps(items)
    cut = data.draw(st.integers(min_value=1, max_value=len(text)))
    parsed = parse_json(text[:cut])
    assert parsed.ok and isinstance(parsed.value, list)
    assert parsed.value == items[: len(parsed.value)]


def test_fence_marks_inside_json_are_data() -> None:
    assert parse_json(': {"```": []} :').value == {"```": []}
    assert parse_json('Sure:\n```json\n{"a": 1}\n```').value == {"a": 1}


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't share personal details about {user}.",
        "I can't help with {that request}, sorry.",
        "Nothing about [the user] {user_name} here.",
    ],
)
def test_a_refusal_with_braces_is_not_an_empty_answer(text: str) -> None:
    parsed = parse_json(text)
    assert not parsed.ok and parsed.value is None and parsed.error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Nothing found: {}", {}),  # a real empty object is one
        ("Here: [ ] that is all", []),
        ('{"facts": [', {"facts": []}),  # a truncated answer keeps what it had
        ("[", []),
    ],
)
def test_a_real_or_truncated_empty_container_still_parses(text: str, expected: Any) -> None:
    parsed = parse_json(text)
    assert parsed.ok and parsed.value == expected


@pytest.mark.parametrize(
    "text",
    [
        'I found [2] facts:\n```json\n{"facts": ["a", "b"]}\n```',
        'I found [2] facts:\n```json\n{"facts": ["a", "b",],}\n```',  # the fenced one needs repair
        'See {note} and [2] below:\n```\n{"facts": ["a", "b"]}\n```\nDone [ok].',
    ],
)
def test_a_fenced_answer_wins_over_brackets_in_the_prose_around_it(text: str) -> None:
    parsed = parse_json(text)
    assert parsed.ok and parsed.value == {"facts": ["a", "b"]}, parsed


def test_a_missing_comma_is_repaired_but_a_quote_left_in_a_string_is_doubtful() -> None:
    """A token touching the string before it is what an unescaped inner quote leaves; a token after
    a space is a missing comma, repaired as before (it must not cost a re-ask)."""
    missing = parse_json('{"text": "Alice is a nurse" "kind": "fact", "tags": ["a" "b"]}')
    assert missing.ok and not missing.doubtful
    assert missing.value == {"text": "Alice is a nurse", "kind": "fact", "tags": ["a", "b"]}
    broken_ones = (
        '{"text": "Alice is "not" a vegetarian"}', "{'text': 'Alice's sister'}", '["He said "hi""]',
        '{"text": "Alice said " hi there", "k": 1}',  # a bare word after the string, a space between
        '{"text": "The film " "Up" " was great"}', '["She named it " "Biscuit"]',  # quotes with spaces
    )  # fmt: skip
    for broken in broken_ones:
        assert parse_json(broken).doubtful, broken


def test_an_empty_answer_before_a_quoted_example_stays_the_answer() -> None:
    """Preferring a later object with content took a note's quoted example over a valid empty
    answer; the echoed-format case still takes the answer after it."""
    from memoryd.ingest.extract import Extraction
    from memoryd.llm.structured import validate

    empty, error, _ = validate('Answer: {"facts": []}\nNote: I skipped {"name": "Alice"}.', Extraction)
    assert error is None and empty is not None and empty.facts == []
    echoed = 'In the format {"facts": [], "relations": []}. Answer: {"facts": [{"text": "Dan is a pilot"}]}'
    answer, error, _ = validate(echoed, Extraction)
    assert error is None and answer is not None and [f.text for f in answer.facts] == ["Dan is a pilot"]
