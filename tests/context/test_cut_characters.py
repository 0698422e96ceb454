"""A memory cut to fit the budget is never cut inside a character as a reader sees it: an emoji with
its variation selector or skin tone, a keycap, a flag, a joined emoji sequence, an Indic conjunct."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from memoryd.context.tokens import count_tokens, truncate_to_tokens

HEART = "❤\ufe0f"  # ❤️: the heart and the selector that makes it an emoji
KEYCAP = "1\ufe0f\u20e3"  # 1️⃣
FAMILY = "👨\u200d👩\u200d👧\u200d👦"
RAINBOW = "🏳\ufe0f\u200d🌈"


def _whole(body: str, unit: str) -> bool:
    """Whether ``body`` is whole repetitions of ``unit`` (spaces between them allowed)."""
    joined = body.replace(" ", "")
    return len(joined) % len(unit) == 0 and joined == unit * (len(joined) // len(unit))


@pytest.mark.parametrize(
    ("unit", "sep"), [(HEART, ""), (KEYCAP, ""), (FAMILY, ""), (RAINBOW, " "), ("🇵🇹", ""), ("👍🏽", "")]
)
def test_an_emoji_is_cut_whole_or_not_at_all(unit: str, sep: str) -> None:
    text = sep.join([unit] * 60)
    for limit in range(1, 40):
        cut = truncate_to_tokens(text, limit)
        assert count_tokens(cut) <= limit
        body = cut.removesuffix("…").rstrip()
        assert _whole(body, unit), (limit, cut)


def test_a_flag_after_flags_is_not_split_into_its_halves() -> None:
    text = "🇵🇹🇧🇷🇯🇵" * 20
    for limit in range(1, 40):
        body = truncate_to_tokens(text, limit).removesuffix("…")
        assert len(body) % 2 == 0, (limit, body)


def test_an_indic_conjunct_is_not_cut_after_its_virama() -> None:
    text = "हिन्दी भाषा " * 20
    for limit in range(1, 30):
        body = truncate_to_tokens(text, limit).removesuffix("…").rstrip()
        assert not body.endswith("\u094d"), (limit, body)  # हिन् of हिन्दी: a dangling virama


async def test_a_long_memory_of_emoji_cut_in_a_context_keeps_each_emoji_whole(rmem: AsyncMemory) -> None:
    await rmem.add("Our family chat is full of hearts " + HEART * 300, user_id="ana", run_id="s1")
    cut = 0
    for budget in range(12, 60):
        ctx = await rmem.context("family chat hearts", user_id="ana", run_id="s1", token_budget=budget)
        assert count_tokens(ctx.text) <= budget
        for item in ctx.items:
            if item.truncated and "❤" in item.text:
                cut += 1
                hearts = item.text.removesuffix("…").split("hearts", 1)[1].strip()
                assert _whole(hearts, HEART), (budget, item.text)
                assert f"] {item.text}\n" in f"{ctx.text}\n"
    assert cut  # the memory was cut among its hearts at these budgets
