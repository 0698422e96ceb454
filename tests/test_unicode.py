"""Lone surrogates: found with the path a caller is told, or replaced in text memoryd must keep."""

from __future__ import annotations

from memoryd.unicode import is_unicode_text, lone_surrogate_at, replace_lone_surrogates


def test_text_that_utf8_can_encode_is_unicode_text() -> None:
    assert is_unicode_text("plain ascii")
    assert is_unicode_text("café 北京 😀")
    assert not is_unicode_text("half an emoji \ud83d")
    assert not is_unicode_text("\udc80")


def test_the_first_bad_string_is_named_by_its_path() -> None:
    body = {"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "bad \ud800"}]}
    assert lone_surrogate_at(body) == "messages.1.content"
    assert lone_surrogate_at(body, brackets=True) == "messages[1].content"
    assert lone_surrogate_at({"a": {"b": ["fine", "é"]}}) is None
    assert lone_surrogate_at("x\udfff", "text") == "text"


def test_a_bad_key_is_named_by_the_object_holding_it_never_by_its_own_text() -> None:
    assert lone_surrogate_at({"metadata": {"k\udfff": 1}}) == "metadata"
    assert lone_surrogate_at({"k\udfff": 1}) == "body"
    assert lone_surrogate_at({"k\udfff": 1}, top="") == ""
    where = lone_surrogate_at({"messages": [{"x\ud800": 1}]}, brackets=True)
    assert where == "messages[0]"
    assert where is not None and is_unicode_text(where)  # a message naming it can be written


def test_a_large_non_ascii_string_is_checked_whole() -> None:
    big = "é" * 2_000_000
    assert lone_surrogate_at({"image": big}) is None
    assert lone_surrogate_at({"image": big + "\ud83d"}) == "image"


def test_replacing_keeps_every_other_character() -> None:
    assert replace_lone_surrogates("cut answer 😀 then \ud83d") == "cut answer 😀 then \ufffd"
    assert replace_lone_surrogates("\udc80a\ud800") == "\ufffda\ufffd"
    text = "unchanged é"
    assert replace_lone_surrogates(text) is text
