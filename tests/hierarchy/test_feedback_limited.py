"""A request limited to one answer, one task or one situation ("in this answer", "for this one", "in
the email to my landlord", "with my mom", "when writing to my boss") is not a standing rule for the
assistant: fast mode keeps no assistant knowledge of it. The same request said for good still is."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory


@pytest.mark.parametrize(
    "message",
    [
        "Answer in French for this one.",
        "Don't use tables in this answer.",
        "Keep it short this time.",
        "Be more formal in the email to my landlord.",
        "Don't use emojis with my mom, she hates them.",
        "Please don't use emojis when writing to my boss.",
        "Avoid jargon when you explain it to my grandma.",
        "Answer in Spanish for now.",
        "Don't use bullet points until I say so.",
    ],
)
async def test_a_request_for_one_answer_or_situation_is_no_standing_rule(amem: AsyncMemory, message: str) -> None:
    out = await amem.add(message, user_id="ana", run_id="s1")
    assert [r.kind for r in out] == ["episode"]
    assert (await amem.tree("ana"))["long_term"]["assistant"] == []


@pytest.mark.parametrize(
    ("message", "statement"),
    [
        ("Answer in French from now on.", "The assistant should answer in French."),
        ("Don't use tables in your answers.", "The assistant should not use tables."),
        ("Be more concise in the future.", "The assistant should keep its answers concise."),
        ("Be concise and to the point.", "The assistant should keep its answers concise."),
        ("Stop apologizing all the time.", "The assistant should stop apologizing."),
        ("Don't use emojis with me, ever.", "The assistant should not use emojis."),
    ],
)
async def test_the_same_request_for_good_is_still_kept(amem: AsyncMemory, message: str, statement: str) -> None:
    await amem.add(message, user_id="ana", run_id="s1")
    assert [m["text"] for m in (await amem.tree("ana"))["long_term"]["assistant"]] == [statement]
