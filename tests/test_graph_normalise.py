"""Entity and relation names: one key per real-world name, for any Unicode input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memoryd.graph import display_name, normalise_name, normalise_relation
from memoryd.graph.normalise import name_keys, older_name_keys

# Any code point, lone surrogates included (they can reach us from JSON).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)


@pytest.mark.parametrize(
    "variants",
    [
        ["Alice", " alice ", "ALICE", "Alice.", '"Alice"', "«Alice»", "alice\t", "**Alice**"],
        ["Acme Corp", "acme   corp", "ACME CORP.", "Acme\u00a0Corp", "(Acme Corp)"],
        ["The Louvre", "the louvre", "Louvre", "THE  LOUVRE!"],
        ["Straße", "STRASSE", "strasse"],
        ["İstanbul", "istanbul", "ISTANBUL", "i\u0307stanbul"],  # "İ" case-folds to i and a combining dot
        ["Οδυσσεύς", "ΟΔΥΣΣΕΎΣ", "οδυσσεύσ"],  # final sigma
        ["O'Brien", "O’Brien", "O‘Brien", "Oʼbrien", "O＇Brien", "O`Brien", "O´Brien", "`O'Brien`"],
        ["ｆｏｏ", "foo", "FOO"],  # full-width forms fold by NFKC
        ["张伟", " 张伟 ", "张伟。", "「张伟」", "“张伟”"],
    ],
)
def test_variants_share_one_key(variants: list[str]) -> None:
    keys = {normalise_name(v) for v in variants}
    assert len(keys) == 1, keys
    assert keys.pop()


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Alice Smith", "alice smith"),
        ("C++", "c++"),
        ("C#", "c#"),
        ("AT&T", "at&t"),
        ("Alice's cat", "alice's cat"),
        ("the", "the"),  # a bare "the" is a name, not a prefix
        ("Theodore", "theodore"),
        ("北京大学", "北京大学"),
        ("東京", "東京"),
        ("Ελένη", "ελένη"),
        ("...", ""),
        ("   ", ""),
    ],
)
def test_name_keys(raw: str, key: str) -> None:
    assert normalise_name(raw) == key


def test_older_keys_are_listed_where_they_differ() -> None:
    assert older_name_keys("İstanbul") == ("i\u0307stanbul",)  # what the release before stored
    assert older_name_keys("O‘Brien") == ("o‘brien",)
    assert older_name_keys("O’Brien") == older_name_keys("Alice") == older_name_keys("...") == ()
    assert name_keys(["İstanbul", "Alice", "", "istanbul"]) == {"istanbul": 0, "i\u0307stanbul": 0, "alice": 1}


def test_an_acute_accent_typed_as_an_apostrophe_is_shown_as_one() -> None:
    assert display_name("O´Brien") == "O'Brien"  # NFKC alone made it "O ́Brien"


def test_a_closing_bracket_inside_keeps_the_name_apart() -> None:
    assert normalise_name("Paris (Texas)") == normalise_name("(Paris (Texas))") == normalise_name("Paris (Texas")
    assert normalise_name("Paris (Texas)") != normalise_name("Paris") == normalise_name("(Paris)")


def test_different_names_stay_apart() -> None:
    assert normalise_name("C#") != normalise_name("C")
    assert normalise_name("Bob") != normalise_name("Robert")  # only an explicit alias joins these
    assert normalise_name("张伟") != normalise_name("张") != normalise_name("伟")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("works_at", "works_at"),
        ("Works At", "works_at"),
        ("works-at", "works_at"),
        ("worksAt", "works_at"),
        ("  LIVES   IN ", "lives_in"),
        ("is a", "is_a"),
        ("__likes__", "likes"),
        ("工作于", "工作于"),
        ("住在 北京", "住在_北京"),
        ("काम करता है", "काम_करता_है"),  # vowel signs stay inside words
        ("!!!", ""),
    ],
)
def test_relation_keys(raw: str, key: str) -> None:
    assert normalise_relation(raw) == key


def test_display_name_keeps_case_and_drops_decoration() -> None:
    assert display_name('  "Alice   Smith." ') == "Alice Smith"
    assert display_name("「张伟」") == "张伟"
    assert display_name("C++") == "C++"


@given(ANY_TEXT)
def test_name_key_is_total_and_idempotent(text: str) -> None:
    key = normalise_name(text)
    assert normalise_name(key) == key
    assert key == key.strip()
    assert "  " not in key


@given(ANY_TEXT)
def test_relation_key_is_total_idempotent_snake_case(text: str) -> None:
    key = normalise_relation(text)
    assert normalise_relation(key) == key
    assert not key.startswith("_") and not key.endswith("_")
    assert "__" not in key
    assert not any(c.isspace() for c in key)


@given(ANY_TEXT)
def test_display_name_is_total_and_idempotent(text: str) -> None:
    shown = display_name(text)
    assert display_name(shown) == shown
    assert normalise_name(shown) == normalise_name(text)
