"""The plain BM25 baseline: tokens and Okapi scores worked out by hand."""

from __future__ import annotations

import math

import pytest

from memoryd.bench.quality.bm25_baseline import BM25Index, bm25_tokens


def test_tokens_are_lowercase_words_without_stopwords() -> None:
    assert bm25_tokens("I'm going to the Market, and I LOVE apples!") == ["going", "market", "love", "apples"]
    assert bm25_tokens("") == []


def test_okapi_scores_by_hand() -> None:
    index = BM25Index([["apple", "banana"], ["apple", "apple", "cherry"], ["durian"]])
    assert index.avgdl == 2.0
    # banana: df 1 of 3 -> idf ln(1 + 2.5/1.5); d0 has tf 1 at the average length -> idf * 2.2 / 2.2
    banana = math.log(1 + 2.5 / 1.5)
    assert index.search(["banana"], 10) == [(0, pytest.approx(banana))]
    # apple: df 2 -> idf ln(1.6); d1: tf 2, length 3 -> idf * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 1.5))
    apple = math.log(1.6)
    ranked = index.search(["apple"], 10)
    assert [doc for doc, _ in ranked] == [1, 0]
    assert ranked[0][1] == pytest.approx(apple * 4.4 / 3.65)
    assert ranked[1][1] == pytest.approx(apple)
    # each distinct query term counts once; unmatched documents are not returned
    assert index.search(["apple", "apple", "banana"], 10)[0] == (0, pytest.approx(apple + banana))
    assert index.search(["mango"], 10) == []
    assert len(index.search(["apple"], 1)) == 1
