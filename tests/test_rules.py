"""The fast-mode rule extractor: explicit self-statements in English and Chinese, and nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memoryd.ingest.rules import extract_statements
from memoryd.models import MemoryKind


@pytest.mark.parametrize(
    ("message", "text", "kind"),
    [
        ("I like hiking.", "The user likes hiking.", MemoryKind.PREFERENCE),
        ("I love dogs!", "The user loves dogs.", MemoryKind.PREFERENCE),
        ("I prefer window seats", "The user prefers window seats.", MemoryKind.PREFERENCE),
        ("I enjoy jazz", "The user enjoys jazz.", MemoryKind.PREFERENCE),
        ("I hate mushrooms.", "The user dislikes mushrooms.", MemoryKind.PREFERENCE),
        ("I don't like coffee.", "The user dislikes coffee.", MemoryKind.PREFERENCE),
        ("My name is Ana Lima.", "The user's name is Ana Lima.", MemoryKind.PROFILE),
        ("I work at Globex.", "The user works at Globex.", MemoryKind.PROFILE),
        ("I'm working for the city council", "The user works at the city council.", MemoryKind.PROFILE),
        ("I live in Berlin.", "The user lives in Berlin.", MemoryKind.PROFILE),
        ("I am a nurse.", "The user is a nurse.", MemoryKind.PROFILE),
        ("I love hiking with my dog", "The user loves hiking with their dog.", MemoryKind.PREFERENCE),
        ("I work at Acme with my brother", "The user works at Acme with their brother.", MemoryKind.PROFILE),
        ("I'm an engineer", "The user is an engineer.", MemoryKind.PROFILE),
        ("我叫小明。", "用户叫小明。", MemoryKind.PROFILE),
        ("我在腾讯工作", "用户在腾讯工作。", MemoryKind.PROFILE),
        ("我住在北京", "用户住在北京。", MemoryKind.PROFILE),
        ("我是老师", "用户是老师。", MemoryKind.PROFILE),
        ("我喜欢爬山", "用户喜欢爬山。", MemoryKind.PREFERENCE),
        ("我爱猫", "用户喜欢猫。", MemoryKind.PREFERENCE),
        ("我讨厌下雨", "用户不喜欢下雨。", MemoryKind.PREFERENCE),
        ("我不喜欢香菜", "用户不喜欢香菜。", MemoryKind.PREFERENCE),
    ],
)
def test_explicit_statements_are_extracted(message: str, text: str, kind: MemoryKind) -> None:
    found = extract_statements(message)
    assert [(s.text, s.kind) for s in found] == [(text, kind)]


def test_preferences_carry_polarity() -> None:
    like, dislike = extract_statements("I really love Italian food, but I hate olives.")
    assert like.text == "The user loves Italian food."
    assert like.metadata == {"preference": "explicit", "polarity": "like"}
    assert dislike.metadata == {"preference": "explicit", "polarity": "dislike"}


@pytest.mark.parametrize(
    "message",
    [
        "I would like to know the weather.",
        "I'd love to visit Rome someday",
        "Do I like pizza?",
        "Am I a good cook?",
        "I like to think so.",
        "I don't think I like it.",
        "If I lived in Paris I would be happy",
        "He said I am a liar.",
        "I am going home now",
        "I'm not sure about that",
        "Maybe I like jazz",
        "my name is",
        "What is my name?",
        "我喜欢你吗？",
        "如果我喜欢你呢",
        "我是说我们明天再谈",
        "我想知道天气",
        "我爱你",
        "I love you!",
        "I like that",
        "他说我是坏人",
        "The weather is nice today.",
        "",
    ],
)
def test_questions_hypotheticals_and_negations_are_ignored(message: str) -> None:
    assert extract_statements(message) == []


def test_only_user_messages_are_read() -> None:
    assert extract_statements("I love the outdoors too.", role="assistant") == []
    assert extract_statements("I love the outdoors too.", role="user") != []


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_unicode(text: str) -> None:
    for statement in extract_statements(text):
        assert statement.text and statement.kind in (MemoryKind.PROFILE, MemoryKind.PREFERENCE)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["I like ", "I'm a ", "My name is ", "我喜欢", "我住在", "I live in "]), st.text())
def test_never_raises_after_a_trigger(prefix: str, rest: str) -> None:
    for statement in extract_statements(prefix + rest):
        assert len(statement.text) < 200
