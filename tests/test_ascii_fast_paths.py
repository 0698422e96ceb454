"""The ASCII paths of hierarchy keywords and of tokenising give what the general (Unicode) path gives."""

from __future__ import annotations

import json
from pathlib import Path

from memoryd.bench.corpus import sentences
from memoryd.hierarchy.keywords import words
from memoryd.text import _stem, tokenize

_LOCOMO = Path("/work/shared/data/locomo/locomo_dev.json")


def _turns() -> list[str]:
    texts = sentences(400, seed=11) + ["I'm OK, don't WORRY: e-mail me at 9am!", "ab cd THE Zebra zebra"]
    if _LOCOMO.exists():
        samples = json.loads(_LOCOMO.read_text(encoding="utf-8"))
        texts += [
            str(turn.get("text", ""))
            for sample in samples
            for key, session in sample["conversation"].items()
            if key.startswith("session_") and isinstance(session, list)
            for turn in session
        ]
    return [t for t in texts if t.isascii()]


def test_ascii_keywords_are_those_of_the_unicode_path() -> None:
    # a no-break space (a space after NFKC) sends the same words down the general path
    for text in _turns():
        assert words(text) == words(text + "\u00a0"), text


def test_a_word_said_again_is_stemmed_once() -> None:
    before = _stem.cache_info().hits
    assert tokenize("painted paintings", keep_stopwords=True) == ["paint", "paint"]
    assert tokenize("Paintings painted again", keep_stopwords=True)[:2] == ["paint", "paint"]
    assert _stem.cache_info().hits >= before + 2
