"""Tokenisation: any Unicode in, sensible index terms out, never a crash."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from memoryd.text import tokenize


def test_english_terms_are_lowercased_stemmed_without_stopwords() -> None:
    assert tokenize("What did Caroline buy at the Farmers' Market?") == ["carolin", "buy", "farmer", "market"]


def test_inflections_share_a_stem() -> None:
    assert tokenize("painted") == tokenize("painting") == tokenize("paints") == ["paint"]
    assert tokenize("researching") == tokenize("research")
    # Short words, digits and accented words are kept as they are.
    assert tokenize("cats ran 2024 naïveté") == ["cat", "ran", "2024", "naïveté"]


def test_chinese_is_segmented_into_words() -> None:
    terms = tokenize("我昨天在北京吃了烤鸭")
    assert "北京" in terms and "烤鸭" in terms and "昨天" in terms
    assert "我" not in terms  # function word


def test_mixed_scripts_and_numbers() -> None:
    terms = tokenize("iPhone15发布会在2024年9月 naïve café")
    assert "iphone15" in terms and "2024" in terms and "naïve" in terms and "café" in terms
    assert "发布会" in terms or "发布" in terms


def test_hostile_input_does_not_crash() -> None:
    for text in [
        "",
        "\x00\x01\x02",
        "😀🔥👍🏽",
        "مرحبا بالعالم",
        "\u202eevil\u202c",
        "\ud800lone",
        "a" * 10000,
        "‍‌",
        "Ωμέγα ΣΊΣΥΦΟΣ",
        "ﬁne ＦＵＬＬＷＩＤＴＨ",
    ]:
        assert isinstance(tokenize(text), list)
    assert tokenize("ＦＵＬＬＷＩＤＴＨ") == ["fullwidth"]


@given(st.text())
def test_any_unicode_gives_clean_terms(text: str) -> None:
    terms = tokenize(text)
    assert all(t and " " not in t and len(t) <= 64 for t in terms)
