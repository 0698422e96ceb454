"""Text tokenisation for the keyword index: pure functions, any Unicode in.

Words are lower-cased NFKC runs of letters and digits (with their combining marks;
optional Arabic and Hebrew vowel points dropped). Runs of Chinese (and
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
import warnings
from functools import lru_cache
from typing import Any

__all__ = ["CJK_RUN", "STOPWORDS", "cjk_words", "tokenize"]

# Scripts written without spaces between words (no segmenter here): their vowel signs keep splitting
# a run into syllable-like pieces, which is what lets part of a sentence match.
_UNSPACED = (
    (0x0E00, 0x0FFF),  # Thai, Lao, Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x1950, 0x1AAF),  # Tai Le, New Tai Lue, Khmer symbols, Buginese, Tai Tham
    (0x1B00, 0x1B7F),  # Balinese
    (0xA980, 0xAADF),  # Javanese, Myanmar extensions, Tai Viet
    (0xFE00, 0xFE0F),  # variation selectors (emoji presentation): not part of a word
    (0xE0100, 0xE01EF),
)


# Arabic harakat and tatweel, Hebrew points and cantillation: written or left out at will.
_UNPOINT = dict.fromkeys(
    [*range(0x0591, 0x05BE), 0x05BF, 0x05C1, 0x05C2, 0x05C4, 0x05C5, 0x05C7, *range(0x0610, 0x061B), 0x0640]
    + [*range(0x064B, 0x0660), 0x0670]
)
_POINTED = re.compile("[" + "".join(map(chr, _UNPOINT)) + "]")


_ASCII_WORD = re.compile(r"[a-z0-9]+")  # a word of casefolded ASCII text (no marks to keep)
_LAST_MARK_PLANE_END = 0x20000  # planes 0 and 1 hold every combining mark a word can carry


@lru_cache(maxsize=1)
def _word_pattern() -> re.Pattern[str]:
    """A word: letters and digits, with the combining marks that belong to them (Devanagari vowel
    signs and virama, Arabic harakat, Hebrew points, a Latin accent NFKC cannot compose), so that
    "नमस्ते" stays one word instead of the letters between its marks. Built once (~10 ms): every
    mark is below U+20000 but the variation selectors of plane 14, which are no part of a word."""
    ranges: list[list[int]] = []
    for cp in range(_LAST_MARK_PLANE_END):
        if unicodedata.category(chr(cp)) not in ("Mn", "Mc") or any(a <= cp <= b for a, b in _UNSPACED):
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    marks = "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)
    return re.compile(rf"[^\W_](?:[^\W_]|[{marks}])*", re.UNICODE)

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
    with warnings.catch_warnings():  # jieba (2020) imports pkg_resources, which setuptools 67-80 deplore
        warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
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
    if clean.isascii():  # most text: no marks, no points, no CJK
        words = _ASCII_WORD.findall(clean)
    else:
        clean = clean.replace("i\u0307", "i")  # Turkish "İ" casefolds to i + a dot: "İstanbul" is "istanbul"
        if _POINTED.search(clean) is not None:  # vowel points are optional: "مَرْحَبًا" is "مرحبا"
            clean = clean.translate(_UNPOINT)
        words = _word_pattern().findall(clean)
        if CJK_RUN.search(clean) is not None:  # segment the runs that hold CJK characters
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
