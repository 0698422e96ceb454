"""Keywords of turns and labels of segments and topics: pure, any language in.

Latin-script words are kept as written (lower-cased, not stemmed, so a label
reads "hiking, mountains"), without stopwords, chat fillers, numbers and words
under three letters; Chinese and Japanese runs are segmented by the keyword
tokenizer (:func:`memoryd.text.tokenize`, without the pairs it also indexes), keeping words
of two characters or more.
"""

from __future__ import annotations

import heapq
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter

from memoryd.text import CJK_RUN, STOPWORDS, tokenize

__all__ = ["KEEP", "POOL", "label", "merge_counts", "sum_counts", "words"]

KEEP = 24  # keywords a topic keeps, most frequent first
POOL = 64  # word counts a segment keeps: its keywords, and room for new words to catch up
_LABEL_WORDS = 3
_MAX_WORDS_PER_TURN = 40
# Letters that are not CJK: "我在Google工作" gives "google" (CJK runs are segmented on their own).
_LATIN = re.compile(r"[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{3,}", re.UNICODE)
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
    if text.isascii():  # most turns: NFKC leaves ASCII as it is, casefold is lower, no CJK run
        found = [w for w in _LATIN.findall(text.lower()) if w not in STOPWORDS and w not in _FILLERS]
        return tuple(dict.fromkeys(found))[:_MAX_WORDS_PER_TURN]
    clean = unicodedata.normalize("NFKC", text).casefold()
    found = []
    for match in _LATIN.finditer(clean):
        word = match.group()
        if word not in STOPWORDS and word not in _FILLERS and not CJK_RUN.search(word):
            found.append(word)
    for run in CJK_RUN.findall(clean):
        found.extend(w for w in tokenize(run, pairs=False) if len(w) >= 2 and w not in _FILLERS)
    return tuple(dict.fromkeys(found))[:_MAX_WORDS_PER_TURN]


def merge_counts(
    counts: Sequence[tuple[str, int]], new: Iterable[str], keep: int = POOL
) -> tuple[tuple[str, int], ...]:
    """``counts`` plus one for each of ``new``, most frequent first (ties: first counted), at most ``keep``.

    A space-saving counter: once ``keep`` words are counted, a new word takes the place of the
    least frequent one (the longest counted of those) with that count plus one, so a word later
    turns keep using climbs into the keywords however many words came before it. A count is then
    at most the replaced count too high, and every word more frequent than one in ``keep`` of all
    the words counted is kept."""
    merged = dict(counts)  # ranked already: equal counts keep this order, new words come after
    incoming = iter(new)
    for word in incoming:
        n = merged.get(word, 0)
        if not n and len(merged) >= keep:  # full: from here on, the least frequent make room
            return _merge_full(merged, word, incoming, keep)
        merged[word] = n + 1
    return _ranked(merged, keep)


def _ranked(merged: dict[str, int], keep: int) -> tuple[tuple[str, int], ...]:
    # ``merged`` iterates in rank order (a word counted again keeps its place, a new one goes last,
    # as its rank does), and a stable sort keeps that order among equal counts.
    return tuple(sorted(merged.items(), key=itemgetter(1), reverse=True)[:keep])


Counts = tuple[tuple[str, int], ...]


def _merge_full(merged: dict[str, int], first: str, rest: Iterator[str], keep: int) -> Counts:
    """:func:`merge_counts` on from ``first``, the first word that finds the pool full."""
    rank = {w: i for i, w in enumerate(merged)}
    order = len(rank)  # the rank the next word counted gets
    heap = [(c, rank[w], w) for w, c in merged.items()]  # (count, rank, word)
    heapq.heapify(heap)
    for word in itertools.chain((first,), rest):
        n = merged.get(word, 0)
        if not n and len(merged) >= keep:
            while merged.get(heap[0][2]) != heap[0][0] or rank[heap[0][2]] != heap[0][1]:
                heapq.heappop(heap)  # stale: counted again since, or replaced
            n, _, gone = heapq.heappop(heap)
            del merged[gone], rank[gone]
        if word not in rank:
            rank[word], order = order, order + 1
        merged[word] = n + 1
        heapq.heappush(heap, (n + 1, rank[word], word))
    return _ranked(merged, keep)


def sum_counts(many: Iterable[Sequence[tuple[str, int]]], keep: int = KEEP) -> tuple[tuple[str, int], ...]:
    """The counts of several lists added up (a topic's segments), most frequent first (ties: first
    seen), ``keep`` kept."""
    total: dict[str, int] = {}
    for counts in many:
        for word, n in counts:
            total[word] = total.get(word, 0) + n
    return tuple(sorted(total.items(), key=itemgetter(1), reverse=True)[:keep])  # stable


def label(counts: Sequence[tuple[str, int]], n: int = _LABEL_WORDS) -> str:
    """A short title: the ``n`` most frequent keywords ("" when there are none)."""
    return ", ".join(w for w, _ in counts[:n])
