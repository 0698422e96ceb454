"""Keywords of turns and labels of segments and topics: pure, any language in.

Latin-script words are kept as written (lower-cased, not stemmed, so a label
reads "hiking, mountains"), without stopwords, chat fillers, numbers and words
under three letters; Chinese and Japanese runs are segmented by the keyword
tokenizer (:func:`memoryd.text.tokenize`), keeping words of two characters or more.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from operator import itemgetter

from memoryd.text import STOPWORDS, tokenize

__all__ = ["KEEP", "label", "merge_counts", "words"]

KEEP = 24  # keywords a segment keeps, most frequent first
_LABEL_WORDS = 3
_MAX_WORDS_PER_TURN = 40
_LATIN = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_FILLERS = frozenset(
    """
    also really actually just like yeah yes okay sure thanks thank please well much many lot lots
    get got getting go going gone went make made know think thought want wanted need say said tell
    told see saw look looking let one two thing things something anything everything way good great
    nice cool awesome fine sounds sound right maybe still even ever every back time times day days
    today yesterday tomorrow can could would should will shall might must may hey hello bye use used
    love last first next new old little big feel feeling
    我们 你们 他们 喜欢 觉得 什么 可以 一下 因为 所以 但是 然后 现在 今天 知道 时候 这个 那个 还是 就是
    真的 非常 怎么 没有 已经 一起 一些 一点 应该 需要 谢谢 好的
    """.split()
)


def words(text: str) -> tuple[str, ...]:
    """The keywords of one turn, in order of appearance, each once."""
    if not text:
        return ()
    clean = unicodedata.normalize("NFKC", text).casefold()
    found: list[str] = []
    for match in _LATIN.finditer(clean):
        word = match.group()
        if word not in STOPWORDS and word not in _FILLERS and not _CJK.search(word):
            found.append(word)
    for run in _CJK.findall(clean):
        found.extend(w for w in tokenize(run) if len(w) >= 2 and w not in _FILLERS)
    return tuple(dict.fromkeys(found))[:_MAX_WORDS_PER_TURN]


def merge_counts(
    counts: Sequence[tuple[str, int]], new: Iterable[str], keep: int = KEEP
) -> tuple[tuple[str, int], ...]:
    """``counts`` plus one for each of ``new``, most frequent first (ties: first seen), ``keep`` kept."""
    merged = dict(counts)  # ranked already: equal counts keep this order, new words come after
    for word in new:
        merged[word] = merged.get(word, 0) + 1
    return tuple(sorted(merged.items(), key=itemgetter(1), reverse=True)[:keep])  # stable


def label(counts: Sequence[tuple[str, int]], n: int = _LABEL_WORDS) -> str:
    """A short title: the ``n`` most frequent keywords ("" when there are none)."""
    return ", ".join(w for w, _ in counts[:n])
