"""Tokenisation under any Unicode (hypothesis): the keyword tokenizer (``memoryd.text``) and the
context's token counter (``memoryd.context.tokens``) never crash, are deterministic, and
``truncate_to_tokens`` keeps within its budget and returns a prefix of the text.

"Any Unicode" here means every code point, lone surrogates included (a Python ``str``
can hold them, JSON's ``\\ud800`` escape makes them), with extra weight on CJK, emoji
(ZWJ sequences, skin tones, flags), right-to-left text and marks, control characters
and combining marks.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from memoryd.context.tokens import count_tokens, truncate_to_tokens
from memoryd.text import _tokenize_cached, tokenize

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None)

POOLS = [
    "我昨天在北京吃了烤鸭東京でラーメンを食べた한국어",  # CJK, kana, hangul
    "😀👍🏽👨‍👩‍👧‍👦🇵🇹🏳️‍🌈",  # emoji, skin tone, ZWJ family, flags
    "שלום مرحبا بالعالم\u200f\u200e\u202b\u202e\u202c\u2067\u2069",  # RTL text and marks
    "\x00\x01\x07\x08\x1b\x7f\x85\u2028\u2029\t\r\n\ufeff\u200b\u200c\u200d",  # controls, invisibles
    "e\u0301a\u0308\u0338\u20dd\u0e33ﬁＦＵＬＬ①Ⅻ",  # combining marks, compatibility forms
    "\ud800\udfff\udbff\udc00",  # lone surrogates
]
ANY_CHAR = st.characters(exclude_categories=())  # every code point, surrogates included
TEXT = st.text(ANY_CHAR | st.sampled_from("".join(POOLS)) | st.sampled_from(" abc,."), max_size=80)


def _squash(text: str) -> str:
    """Text as the tokenizer sees it, whitespace dropped: UTF-8-safe, NFKC."""
    clean = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(unicodedata.normalize("NFKC", clean).split())


@SETTINGS
@given(TEXT)
def test_keyword_tokens_are_clean_and_deterministic(text: str) -> None:
    terms = tokenize(text)
    assert list(_tokenize_cached.__wrapped__(text, False)) == terms  # the same terms computed afresh
    for term in terms:
        assert term and not any(ch.isspace() for ch in term) and len(term) <= 64
        term.encode("utf-8")  # storable: no lone surrogate survives
    assert set(terms) <= set(tokenize(text, keep_stopwords=True))


@SETTINGS
@given(TEXT)
def test_token_counts_never_crash_and_do_not_depend_on_the_cache(text: str) -> None:
    n = count_tokens(text)
    assert isinstance(n, int) and n >= 0
    assert count_tokens.__wrapped__(text) == n  # the same count computed afresh
    if not text.strip():
        assert n == 0


@SETTINGS
@given(TEXT, st.integers(min_value=-2, max_value=40))
def test_truncation_fits_the_budget_and_keeps_a_prefix(text: str, limit: int) -> None:
    cut = truncate_to_tokens(text, limit)
    assert cut == truncate_to_tokens(text, limit)
    if limit <= 0:
        assert cut == ""
        return
    assert count_tokens(cut) <= limit
    if count_tokens(text) <= limit:
        assert cut == text
    else:
        assert cut == "" or cut.endswith("…")
        assert _squash(text).startswith(_squash(cut.removesuffix("…")))


@SETTINGS
@given(st.sampled_from(POOLS), st.integers(min_value=1, max_value=6))
def test_every_pool_repeated_is_counted_and_cut(pool: str, times: int) -> None:
    text = " ".join([pool] * times)
    assert count_tokens(text) > 0
    assert count_tokens(truncate_to_tokens(text, 4)) <= 4
    assert isinstance(tokenize(text), list)


def test_lone_surrogates_are_counted_not_fatal() -> None:
    """Regression: the compiled SentencePiece refused a lone surrogate with a RuntimeError."""
    assert count_tokens("\ud800abc def") == count_tokens("?abc def") > 0
    cut = truncate_to_tokens("\udfff" + " word" * 50, 5)
    assert cut.endswith("…") and count_tokens(cut) <= 5
