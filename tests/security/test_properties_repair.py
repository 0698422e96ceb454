"""The lenient JSON parser of LLM answers (``memoryd.llm.repair.parse_json``), under generated
input (hypothesis): valid JSON comes back untouched, a JSON object or array wrapped the ways
models wrap it (code fences, prose, a leading ``<think>`` block, CRLF) is recovered exactly,
and nothing, however broken, makes it raise: its documented failure is ``ok=False``."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from memoryd.llm.repair import Parsed, parse_json

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None)

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)  # surrogates included
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | ANY_TEXT
    | st.sampled_from(["```", "```json", "<think>", "</think>", "{", "]", '"', "\\", "Sure! {"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)
CONTAINERS = st.lists(VALUES, max_size=4) | st.dictionaries(ANY_TEXT, VALUES, min_size=0, max_size=4)
PROSE = st.text(st.sampled_from("abcXYZ .,:;!?-\n\t 我的é😀"), max_size=30)
FENCE_TAGS = st.sampled_from(["", "json", "JSON", "json5", "javascript"])


def _same(parsed: Parsed, value: Any) -> None:
    assert parsed.ok, parsed
    assert parsed.value == value
    assert json.dumps(parsed.value, sort_keys=True) == json.dumps(value, sort_keys=True)


@SETTINGS
@given(VALUES, st.booleans(), st.sampled_from([None, 2, "\t"]))
def test_valid_json_is_returned_untouched(value: Any, ascii_only: bool, indent: int | str | None) -> None:
    parsed = parse_json(json.dumps(value, ensure_ascii=ascii_only, indent=indent))
    _same(parsed, value)
    assert not parsed.repaired


@SETTINGS
@given(CONTAINERS, PROSE, PROSE, FENCE_TAGS, st.booleans(), st.booleans())
def test_wrapped_json_is_recovered(
    value: Any, before: str, after: str, tag: str, fenced: bool, crlf: bool
) -> None:
    body = json.dumps(value, ensure_ascii=False, indent=2 if crlf else None)
    text = f"{before}\n```{tag}\n{body}\n```\n{after}" if fenced else f"{before} {body} {after}"
    if crlf:
        text = text.replace("\n", "\r\n")
    _same(parse_json(text), value)


@SETTINGS
@given(CONTAINERS, ANY_TEXT, PROSE)
def test_a_leading_think_block_is_skipped(value: Any, thoughts: str, before: str) -> None:
    thoughts = thoughts.replace("</think>", "").replace("</THINK>", "")
    decoy = json.dumps({"draft": thoughts})  # reasoning models often draft JSON while thinking
    body = json.dumps(value, ensure_ascii=False)
    _same(parse_json(f"  <think>{thoughts} {decoy}</think>\n{before} ```json\n{body}\n```"), value)
    # An unclosed block runs to the end: a draft inside it is never taken for the answer.
    unclosed = parse_json(f"<think>{thoughts} {decoy}")
    assert not unclosed.ok and unclosed.value is None and unclosed.error


@SETTINGS
@given(ANY_TEXT | st.text(st.sampled_from("{}[]\"':,\\ `<>/*abc1-.eEtrufalsnN\n"), max_size=80))
def test_garbage_never_raises(text: str) -> None:
    parsed = parse_json(text)
    assert isinstance(parsed, Parsed)
    if parsed.ok:
        json.dumps(parsed.value)  # whatever came back is JSON
    else:
        assert parsed.value is None and parsed.error


@SETTINGS
@given(CONTAINERS, st.data())
def test_any_cut_of_an_answer_never_raises(value: Any, data: st.DataObject) -> None:
    text = json.dumps(value, ensure_ascii=False)
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    parsed = parse_json("```json\n" + text[:cut])
    if parsed.ok:
        assert isinstance(parsed.value, (dict, list)) or cut == len(text)
        json.dumps(parsed.value)
