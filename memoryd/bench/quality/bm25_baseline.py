"""Plain Okapi BM25, the floor every retrieval figure is compared with.

Deliberately simple and independent of memoryd's own keyword index: words are
lower-cased ``\\w+`` runs, English stopwords (NLTK's list) are removed, no
stemming. Scoring is Okapi BM25 with ``k1 = 1.2`` and ``b = 0.75`` and the
non-negative idf ``log(1 + (N - df + 0.5) / (df + 0.5))``; each distinct query
term counts once. One index per user scope, built over the same turns that
memoryd ingests. Documents that share no term with the query are not returned.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["ENGLISH_STOPWORDS", "BM25Index", "bm25_tokens"]

# NLTK's English stopword list (179 words).
ENGLISH_STOPWORDS = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves
    he him his himself she she's her hers herself it it's its itself they them their theirs themselves
    what which who whom this that that'll these those am is are was were be been being have has had
    having do does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on off over
    under again further then once here there when where why how all any both each few more most other
    some such no nor not only own same so than too very s t can will just don don't should should've
    now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn
    hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn
    shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
    """.split()
)
_WORD = re.compile(r"\w+")


def bm25_tokens(text: str) -> list[str]:
    """Lower-cased word tokens without English stopwords."""
    return [w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOPWORDS]


class BM25Index:
    """Okapi BM25 over a fixed list of tokenised documents."""

    def __init__(self, docs: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.size = len(docs)
        self.lengths = [len(d) for d in docs]
        self.avgdl = (sum(self.lengths) / self.size) if self.size else 0.0
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for index, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                self.postings.setdefault(term, []).append((index, tf))

    def idf(self, term: str) -> float:
        df = len(self.postings.get(term, ()))
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    def scores(self, query: Sequence[str]) -> dict[int, float]:
        """Score of every document that holds at least one query term."""
        out: dict[int, float] = {}
        if not self.size or self.avgdl == 0:
            return out
        k1, b, avgdl = self.k1, self.b, self.avgdl
        for term in dict.fromkeys(query):
            postings = self.postings.get(term)
            if not postings:
                continue
            idf = self.idf(term)
            for doc, tf in postings:
                norm = k1 * (1.0 - b + b * self.lengths[doc] / avgdl)
                out[doc] = out.get(doc, 0.0) + idf * tf * (k1 + 1.0) / (tf + norm)
        return out

    def search(self, query: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """The ``limit`` best ``(document index, score)``, best first; ties keep document order."""
        ranked = sorted(self.scores(query).items(), key=lambda item: (-item[1], item[0]))
        return ranked[:limit]
