"""Text tokenisation for the keyword index: pure functions, any Unicode in.

Words are lower-cased NFKC runs of letters and digits (with their combining marks;
optional Arabic and Hebrew vowel points dropped). A Latin or Greek word written with
accents is kept as written and also without them ("café" gives "café" and "cafe"), so
"cafe" finds "Café" while "café" ranks a memory that wrote the accent first.

Runs of Chinese (and Japanese) characters are segmented with ``jieba``, whose
dictionary ships with the package, so CJK text is searchable by keyword; jieba knows
no Japanese (it cuts kana letter by letter). A run is also indexed by its
two-character pieces: jieba keeps a name it does not know whole ("王小明") or cuts
across one ("東京都" is 東|京都), and "小明" or "東京" must still find it. Very common
function words are dropped so that BM25 scores carry meaning. Control characters,
emoji, RTL marks and lone surrogates never raise.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

__all__ = ["CJK_RUN", "STOPWORDS", "cjk_words", "fold_accents", "straight_apostrophes", "tokenize"]

# An apostrophe inside a word as phone keyboards and word processors type it ("I’m", "Don’t").
_CURLY_APOSTROPHE = re.compile(r"(?<=\w)[\u2019\u02bc](?=\w)")


def straight_apostrophes(text: str) -> str:
    """``text`` with each apostrophe inside a word written ``'`` ("I’m" is "I'm"): rules read one
    form; a closing quotation mark (’ after a word, before a space) is left as it is."""
    return _CURLY_APOSTROPHE.sub("'", text) if "\u2019" in text or "\u02bc" in text else text

# Scripts written without spaces between words, for which no segmenter ships: a run of them is
# indexed as its two-letter pieces (a letter with its marks), as CJK runs are besides their words.
_UNSPACED_SCRIPTS = (
    (0x0E00, 0x0FFF),  # Thai, Lao, Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x1950, 0x1AAF),  # Tai Le, New Tai Lue, Khmer symbols, Buginese, Tai Tham
    (0x1B00, 0x1B7F),  # Balinese
    (0xA980, 0xAADF),  # Javanese, Myanmar extensions, Tai Viet
)
_UNSPACED_RUN = re.compile("([" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _UNSPACED_SCRIPTS) + "]+)")
# Variation selectors (emoji presentation): marks, but no part of a word.
_NOT_IN_WORDS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))


# Arabic harakat and tatweel, Hebrew points and cantillation: written or left out at will.
_UNPOINT = dict.fromkeys(
    [*range(0x0591, 0x05BE), 0x05BF, 0x05C1, 0x05C2, 0x05C4, 0x05C5, 0x05C7, *range(0x0610, 0x061B), 0x0640]
    + [*range(0x064B, 0x0660), 0x0670]
)
_POINTED = re.compile("[" + "".join(map(chr, _UNPOINT)) + "]")


# Where a casefolded word may hold a letter with an accent: Latin-1 to Greek, Latin Extended
# Additional and Greek Extended, Latin Extended C-E, and Cyrillic "ё" (folded to "е", as Russian
# writes it at will; other Cyrillic and every other script keep their marks, which spell letters).
_FOLDABLE = re.compile("[\u00c0-\u03ff\u1e00-\u1fff\u2c60-\u2c7f\ua720-\ua7ff\uab30-\uab6f\u0451]")
# Letters whose accent is part of the letter (NFD keeps them whole): the plain letter they read as.
_PLAIN_LETTER = str.maketrans(
    {"ø": "o", "đ": "d", "ð": "d", "ł": "l", "ħ": "h", "ŧ": "t", "ı": "i", "ƀ": "b", "ɨ": "i", "ё": "е"}
    | {"æ": "ae", "œ": "oe", "þ": "th"}
)


def _is_latin_or_greek(cp: int) -> bool:
    return cp < 0x0400 or 0x1E00 <= cp <= 0x1FFF or 0x2C60 <= cp <= 0x2C7F or 0xA720 <= cp <= 0xAB6F


def fold_accents(word: str) -> str:
    """``word`` without the accents of its Latin and Greek letters ("résumé" -> "resume",
    "ελληνικά" -> "ελληνικα", "łódź" -> "lodz"); marks on other scripts' letters are kept."""
    if _FOLDABLE.search(word) is None:
        return word
    out: list[str] = []
    base = 0
    for ch in unicodedata.normalize("NFD", word.translate(_PLAIN_LETTER)):
        if unicodedata.category(ch) == "Mn":
            if _is_latin_or_greek(base):
                continue
        else:
            base = ord(ch)
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


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
        if unicodedata.category(chr(cp)) not in ("Mn", "Mc") or any(a <= cp <= b for a, b in _NOT_IN_WORDS):
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


# jieba's HMM, which guesses words it does not know, takes time quadratic in a run of characters it
# knows no word of (32,000 of one character: 4 s): a run is cut in pieces of this many first. A
# word split at a piece's end is still found by its two-character pieces (_with_pairs).
_JIEBA_PIECE = 256


def _pieces(run: str) -> list[str]:
    return [run[i : i + _JIEBA_PIECE] for i in range(0, len(run), _JIEBA_PIECE)]


def _segment_cjk(run: str) -> list[str]:
    """Search segmentation: words and the shorter words inside them (what the index keeps)."""
    return [w for piece in _pieces(run) for w in _jieba().cut_for_search(piece, HMM=True) if w.strip()]


def cjk_words(run: str) -> list[str]:
    """A CJK run cut into words, in order and without overlap (precise mode)."""
    return [w for piece in _pieces(run) for w in _jieba().cut(piece, HMM=True) if w.strip()]


def _with_pairs(run: str, words: list[str]) -> list[str]:
    """A CJK run's ``words`` and then each two-character piece of the run that no word is already:
    a name jieba keeps whole ("王小明") or cuts across ("東京都" is 東|京都) is still found by the
    piece a query names ("小明", "東京"), and katakana, which jieba cuts letter by letter, too."""
    out = list(words)
    seen = set(words)
    for i in range(len(run) - 1):
        pair = run[i : i + 2]
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out


def _split_by(word: str, run: re.Pattern[str], pieces: Callable[[str], list[str]]) -> list[str]:
    """``word`` cut at the runs ``run`` finds: each run as its ``pieces``, each part between them
    whole when it holds a letter or digit (not a mark alone, left after a run)."""
    out: list[str] = []
    for part in run.split(word):
        if run.fullmatch(part):
            out.extend(pieces(part))
        elif any(ch.isalnum() for ch in part):
            out.append(part)
    return out


def _split_run(word: str, pairs: bool) -> list[str]:
    """A word holding CJK: its CJK runs segmented (with ``pairs``, also as their pairs)."""
    if not CJK_RUN.search(word):
        return [word]
    if not pairs:
        return _split_by(word, CJK_RUN, _segment_cjk)
    return _split_by(word, CJK_RUN, lambda run: _with_pairs(run, _segment_cjk(run)))


_stemmer_lock = threading.Lock()
_stemmer: Any = None


@lru_cache(maxsize=65536)  # a turn's words are mostly words said before: a lookup, not a stemming
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
def _tokenize_cached(text: str, keep_stopwords: bool, pairs: bool = True) -> tuple[str, ...]:
    clean = unicodedata.normalize("NFKC", text.encode("utf-8", "replace").decode("utf-8")).casefold()
    if clean.isascii():  # most text: no marks, no points, no CJK
        words = _ASCII_WORD.findall(clean)
    else:
        clean = clean.replace("i\u0307", "i")  # Turkish "İ" casefolds to i + a dot: "İstanbul" is "istanbul"
        if _POINTED.search(clean) is not None:  # vowel points are optional: "مَرْحَبًا" is "مرحبا"
            clean = clean.translate(_UNPOINT)
        words = _word_pattern().findall(clean)
        if CJK_RUN.search(clean) is not None:  # segment the runs that hold CJK characters
            words = [token for word in words for token in _split_run(word, pairs)]
        if pairs and _UNSPACED_RUN.search(clean) is not None:  # Thai, Khmer, ...: no segmenter ships
            words = [token for word in words for token in _split_by(word, _UNSPACED_RUN, _letter_pairs)]
        words = [form for word in words for form in _forms(word)]
    tokens: list[str] = []
    for token in words:
        if len(token) > _MAX_TOKEN:
            token = token[:_MAX_TOKEN]
        if keep_stopwords or token not in STOPWORDS:
            tokens.append(_stem(token))
    return tuple(tokens)


def _letter_pairs(run: str) -> list[str]:
    """A run of a script written without spaces (:data:`_UNSPACED_SCRIPTS`) as its two-letter
    pieces, each letter with the marks after it ("กรุงเทพ" is กรุ รุง งเ เท ทพ), so that a word
    inside a run is found by its pieces; a run of one or two letters, whole."""
    letters: list[str] = []
    for ch in run:
        if letters and unicodedata.category(ch) in ("Mn", "Mc"):
            letters[-1] += ch
        else:
            letters.append(ch)
    if len(letters) <= 2:
        return [run]
    return [a + b for a, b in zip(letters, letters[1:], strict=False)]


# Korean particles (and the copula) a noun takes in writing ("서울에", "서울에서는", "iPhone을"): a
# word ending in one is also indexed without it, so that "서울" finds it. Longest first. What is left
# of a word without a one-syllable particle must be two letters or more: "회의" (a meeting) is no
# "회" (raw fish) with 의.
_PARTICLES = tuple(
    sorted(
        """에서는 에게서 으로는 으로서 으로써 에서도 에게는 까지는 부터는 입니다 이에요
        에서 에게 한테 께서 까지 부터 으로 처럼 보다 이랑 하고 이나 에는 에도 예요
        은 는 이 가 을 를 의 에 도 로 와 과 랑 만""".split(),
        key=len,
        reverse=True,
    )
)
_HANGUL_LAST = re.compile("[\uac00-\ud7a3]$")


def _forms(word: str) -> tuple[str, ...]:
    """A word as written and, when it has accents to fold, without them (never an empty term);
    a word ending in a Korean particle, also without it."""
    plain = fold_accents(word)
    if plain != word and plain:
        return (word, plain)
    if _HANGUL_LAST.search(word):
        for particle in _PARTICLES:
            if word.endswith(particle):
                stem = word[: -len(particle)]
                return (word, stem) if len(stem) >= (2 if len(particle) == 1 else 1) else (word,)
    return (word,)


def tokenize(text: str, *, keep_stopwords: bool = False, pairs: bool = True) -> list[str]:
    """Split ``text`` into index terms (lower-cased, CJK segmented, stopwords dropped; a word with
    accents also without them; with ``pairs``, a CJK run also as its two-character pieces and a
    run of Thai, Khmer... as its two-letter pieces, which without ``pairs`` stays whole)."""
    if not text:
        return []
    return list(_tokenize_cached(text, keep_stopwords, pairs))
