"""Assistant feedback typed on a phone: its apostrophes are curly (’), and it is the same request."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory


@pytest.mark.parametrize(
    ("message", "statement"),
    [
        ("Don’t use emojis.", "The assistant should not use emojis."),
        ("Please don’t add so many bullet points", "The assistant should not use bullet points."),
        ("You’re being way too formal.", "The assistant should be less formal."),
        ("Don’t use emojis, like I’ve said.", "The assistant should not use emojis."),
    ],
)
async def test_feedback_with_a_curly_apostrophe_is_assistant_knowledge(
    amem: AsyncMemory, message: str, statement: str
) -> None:
    out = await amem.add(message, user_id="ana", run_id="s1")
    derived = [(r.kind, r.text) for r in out if r.kind != "episode"]
    assert derived == [("preference", statement)]
    tree = await amem.tree("ana")
    assert [m["text"] for m in tree["long_term"]["assistant"]] == [statement]


async def test_reported_speech_with_curly_apostrophes_stays_no_request(amem: AsyncMemory) -> None:
    out = await amem.add("Don’t use emojis, my boss’s assistant told me.", user_id="ana", run_id="s1")
    assert [r.kind for r in out] == ["episode"]
