"""Text tokenisation for the keyword index: pure functions, any Unicode in.

Words are lower-cased NFKC runs of letters and digits. Runs of Chinese (and
Japanese) characters are segmented with ``jieba``, whose dictionary ships with
the package, so CJK text is searchable by keyword. Very common function words
are dropped so that BM25 scores carry meaning. Control characters, emoji,
RTL marks and lone surrogates never raise.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any

__all__ = ["CJK_RUN", "STOPWORDS", "cjk_words", "tokenize"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# A run of CJK unified ideographs (+ext A, compatibility), hiragana, katakana: text without spaces.
CJK_RUN = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")
_MAX_TOKEN = 64

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves s t d ll m re ve y o 的 了 是 在 我 你 他
    她 它 们 和 也 就 都 而 及 与 着 或 一个 没有 吗 呢 吧 啊 这 那 之 得 地
    """.split()
)

_jieba_lock = threading.Lock()
_jieba_ready = False


def _jieba() -> Any:
    global _jieba_ready
    import jieba  # imported lazily: ~1 s to load its dictionary

    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba_ready = True
    return jieba


def _segment_cjk(run: str) -> list[str]:
    """Search segmentation: words and the shorter words inside them (what the index keeps)."""
    return [w for w in _jieba().cut_for_search(run, HMM=True) if w.strip()]


def cjk_words(run: str) -> list[str]:
    """A CJK run cut into words, in order and without overlap (precise mode)."""
    return [w for w in _jieba().cut(run, HMM=True) if w.strip()]


def _split_run(word: str) -> list[str]:
    if not CJK_RUN.search(word):
        return [word]
    out: list[str] = []
    # Keep Latin/digit parts whole, segment the CJK parts.
    for part in CJK_RUN.split(word):
        if not part:
            continue
        out.extend(_segment_cjk(part) if CJK_RUN.match(part) else [part])
    return out


_stemmer_lock = threading.Lock()
_stemmer: Any = None


def _stem(word: str) -> str:
    """English Snowball stem of a plain a-z word ("painted", "painting" -> "paint")."""
    global _stemmer
    if len(word) < 4 or not (word.isascii() and word.isalpha() and word.islower()):
        return word  # only plain a-z words
    if _stemmer is None:
        with _stemmer_lock:
            if _stemmer is None:
                import Stemmer  # PyStemmer: the Snowball stemmers, compiled

                _stemmer = Stemmer.Stemmer("english")
    return str(_stemmer.stemWord(word))


@lru_cache(maxsize=4096)
def _tokenize_cached(text: str, keep_stopwords: bool) -> tuple[str, ...]:
    clean = unicodedata.normalize("NFKC", text.encode("utf-8", "replace").decode("utf-8")).casefold()
    words = _WORD.findall(clean)
    if CJK_RUN.search(clean) is not None:  # rare: segment the runs that hold CJK characters
        words = [token for word in words for token in _split_run(word)]
    tokens: list[str] = []
    for token in words:
        if len(token) > _MAX_TOKEN:
            token = token[:_MAX_TOKEN]
        if keep_stopwords or token not in STOPWORDS:
            tokens.append(_stem(token))
    return tuple(tokens)


def tokenize(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Split ``text`` into index terms (lower-cased, CJK segmented, stopwords dropped)."""
    if not text:
        return []
    return list(_tokenize_cached(text, keep_stopwords))
