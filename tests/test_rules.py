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
        # a full-width question mark ends a question as "?" does
        "我住在北京？",
        "I live in Paris？",
        # in Chinese a "，" cuts a clause, not what hedges it: reported speech, hypotheticals, dreams
        "妈妈说，我住在北京。",
        "他告诉我，我在谷歌工作",
        "如果明年搬家，我住在上海",
        "要是有一天，我住在海边",
        "我梦到，我住在火星",
        # quoted words, however many sentences they hold, are someone's speech or text to work on
        'My friend wrote: "I live in Rome. I work at Google."',
        'She said "I love cats! I hate dogs."',
        'Write a story where the hero says: "My name is Max. I live in Oslo."',
        'Translate: "I live in Madrid; I work at Telefonica"',
        "我朋友说：“我住在北京。我在百度工作。”",
        '他说「我住在大阪」',
        'Reply to this: "My name is Bob',
        # where or how the user works is no workplace: it must not replace the employer
        "I work at home",
        "I work for myself",
        "I work at night",
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


@pytest.mark.parametrize(
    ("message", "texts"),
    [
        # a name ends where the name does, not three words on
        ("My name is Ana and I'm 30", ["The user's name is Ana."]),
        ("Call me Ana, please", ["The user's name is Ana."]),
        ("My name is Ana, nice to meet you", ["The user's name is Ana."]),
        ("My name's Ana by the way", ["The user's name is Ana."]),
        ("My name is Ana btw", ["The user's name is Ana."]),
        ("My name is Ana da Silva", ["The user's name is Ana da Silva."]),
        # an object ends where another statement, or another person, takes over
        ("I'm a nurse and I'm 30", ["The user is a nurse."]),
        ("I'm a doctor and my wife is a nurse", ["The user is a doctor."]),
        ("I love cats and my wife loves dogs", ["The user loves cats."]),
        ("I live in Paris and my brother lives in Rome", ["The user lives in Paris."]),
        ("I live in Paris and work at Google", ["The user lives in Paris."]),
        # when it holds is no part of what: the same home, the same taste
        ("I live in Paris now", ["The user lives in Paris."]),
        ("I live in Berlin these days.", ["The user lives in Berlin."]),
        ("I don't like tea anymore", ["The user dislikes tea."]),
        ("I love jazz too", ["The user loves jazz."]),
        ("I like the band Now", ["The user likes the band Now."]),
        ("I work at Home Depot", ["The user works at Home Depot."]),
        ("I like cats and hate dogs", ["The user likes cats."]),
        # each "… and I …" is a statement of its own; negations stay with theirs
        ("I like cats and I hate dogs", ["The user likes cats.", "The user dislikes dogs."]),
        ("I'm a doctor and I live in Paris", ["The user is a doctor.", "The user lives in Paris."]),
        ("I don't like tea but I love coffee", ["The user dislikes tea.", "The user loves coffee."]),
        # Chinese: a like that turns into a dislike is cut where it turns
        ("我喜欢吃苹果但不喜欢香蕉", ["用户喜欢吃苹果。"]),
        ("我讨厌下雨，但我喜欢雪", ["用户不喜欢下雨。", "用户喜欢雪。"]),
        ("我最讨厌下雨", ["用户不喜欢下雨。"]),
        ("我也不喜欢香菜", ["用户不喜欢香菜。"]),
    ],
)
def test_statements_end_where_they_end(message: str, texts: list[str]) -> None:
    assert [s.text for s in extract_statements(message)] == texts


@pytest.mark.parametrize(
    "message",
    [
        "I hate to bother you",
        "I hate to admit it, but you're right",
        "I like neither cats nor dogs",
        "I like none of them",
        "I like no one",
        "I like nothing about it",
        "I love no one but you",
        "I don't like anything",
        "I love cats, she said",
        "If I get the job and I live in Paris I will be happy",
        "He said I like jazz and I love rock",
    ],
)
def test_no_taste_is_invented(message: str) -> None:
    assert extract_statements(message) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I hate mango but my roommate only eats oatmeal on Mondays but only if the brewery is open.",
         ["The user dislikes mango."]),
        ("I prefer risotto but my neighbour only eats oatmeal because Kofi said it was worth it.",
         ["The user prefers risotto."]),
        ("I love cats because he said so", ["The user loves cats."]),
        ("I love hiking in the Alps, my wife told me", []),
    ],
)  # fmt: skip
def test_a_later_statement_of_someone_else_does_not_undo_this_one(text: str, expected: list[str]) -> None:
    assert [s.text for s in extract_statements(text)] == expected


@pytest.mark.parametrize(
    ("message", "texts"),
    [
        # a start still to come, or a time gone: not how things are now
        ("I live in Rome starting next year", []),
        ("I work at Google from January", []),
        ("I'm a nurse as of next month", []),
        ("My name is Ana starting next month", []),
        ("明年，我住在罗马", []),
        ("我住在罗马,从明年开始", []),
        ("以前，我住在罗马", []),
        # now, or a time that is no start of the statement
        ("I live in Paris from now on", ["The user lives in Paris."]),
        ("I work at Acme until next year", ["The user works at Acme until next year."]),
        ("I work at Google one day a week", ["The user works at Google one day a week."]),
        ("I like films from 1975", ["The user likes films from 1975."]),
        ("从去年开始，我住在巴黎", ["用户住在巴黎。"]),
        ("明年。我住在罗马", ["用户住在罗马。"]),  # another sentence: no time of this one
    ],
)
def test_only_what_holds_now_is_read(message: str, texts: list[str]) -> None:
    assert [s.text for s in extract_statements(message)] == texts
