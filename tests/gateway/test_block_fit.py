"""A memory whose neutralised text outgrows the budget (HTML, code: each angle bracket becomes an
entity, three tokens for one) is cut to fit, not dropped.

Each test failed on the code before its fix (found in a review of the gateway).
"""

from __future__ import annotations

from memoryd.context.tokens import count_tokens
from memoryd.gateway.inject import FENCE_CLOSE, FENCE_OPEN
from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, add_memory, target

CARDS = " ".join(f'<div class="card-{i}"><h2>Plan {i}</h2><p>Price {i}0 dollars</p></div>' for i in range(14))
MARKUP = "My landing page markup is " + CARDS  # ~400 tokens as written, ~900 with &lt; &gt;


def test_a_memory_of_html_that_fits_the_budget_as_written_is_injected_cut_not_dropped(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # It fitted the builder's budget (800 tokens, the frame's aside), then grew past it once its
    # brackets were written as entities, and went whole: the best match was left out, silently.
    with gateway([[target(fake_llm, "m")]]) as gw:
        add_memory(gw, MARKUP, "ana")
        add_memory(gw, "I live in Lisbon.", "ana")
        raw = gw.client().chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "what is my landing page markup?"}], user="ana"
        )
        budget = gw.settings.gateway.token_budget
    assert raw.headers["x-memoryd-memory"] == "injected"
    assert raw.headers["x-memoryd-memories-injected"] == "2"
    block = fake_llm.last.json["messages"][0]["content"]
    assert count_tokens(block) == int(raw.headers["x-memoryd-memory-tokens"]) <= budget
    inside = block.split(FENCE_OPEN, 1)[1]
    assert inside.endswith(FENCE_CLOSE) and "<" not in inside.removesuffix(FENCE_CLOSE)
    assert "lives in Lisbon" in inside
    markup = next(line for line in inside.splitlines() if "landing page markup" in line)
    assert '&lt;div class="card-0"&gt;&lt;h2&gt;Plan 0&lt;/h2&gt;' in markup and markup.endswith("…")


def test_a_long_list_over_budget_keeps_the_longest_head_that_fits_across_sections() -> None:
    # The items fit the builder's budget as written; neutralised, dozens must go. What is kept is
    # the list's head (the last of it maybe cut), and it is the longest that fits: one more item,
    # as neutralised, would not (a section left empty takes its heading with it).
    from dataclasses import replace

    from memoryd.context.builder import SECTIONS, ContextItem
    from memoryd.gateway.inject import neutralise, render_block

    items = [
        ContextItem(
            id=f"{i:04d}",
            tag=f"m{i}",
            kind="fact",
            section=SECTIONS[i * len(SECTIONS) // 120],
            text=f"Page {i} markup is <p><b>plan {i}</b> <i>{'x' * (i % 5)}</i></p>",
            score=1.0,
            tokens=0,
        )
        for i in range(120)
    ]
    for budget in range(150, 3000, 29):
        block, kept = render_block(items, [], budget)
        assert 0 < count_tokens(block) <= budget
        assert [k.id for k in kept] == [i.id for i in items[: len(kept)]]
        assert all(k.text == neutralise(i.text) for k, i in zip(kept[:-1], items, strict=False))
        whole = [replace(i, text=neutralise(i.text)) for i in items[: len(kept) + 1]]
        assert count_tokens(render_block(whole, [], None)[0]) > budget
