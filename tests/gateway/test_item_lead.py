"""The gateway reads a turn's lead (its day and speaker, "(2024-05-01) Ana: ") from the context
builder's item, not from the line's text: a speaker's name may hold what the text's pattern took for
the lead's end (": " in "Support: Tier 2", a fullwidth colon that normalising makes one).

Each test failed on the code before its fix (the gateway found the lead's end at the first ": ").
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd.context.builder import RECENT, RELEVANT, Candidate, ContextItem, build_context
from memoryd.gateway.inject import frame_tokens, neutralise, render_block
from memoryd.models import MemoryKind, MemoryRecord, content_hash

WHEN = datetime(2024, 5, 1, 10, tzinfo=UTC)


def turn(text: str, actor: str, role: str = "user", n: int = 1) -> MemoryRecord:
    return MemoryRecord(
        id=f"0190{n:04d}-0000-7000-8000-000000000000", text=text, kind=MemoryKind.EPISODE, user_id="ana",
        agent_id=None, run_id="s1", metadata={}, role=role, actor=actor, source_ids=(), event_time=WHEN,
        created_at=WHEN, updated_at=WHEN, hash=content_hash(text), valid_from=WHEN,
    )  # fmt: skip


def items(*cands: Candidate) -> list[ContextItem]:
    return build_context(cands, 10_000).items


@pytest.mark.parametrize("section", [RECENT, RELEVANT])
def test_a_turn_whose_speaker_name_holds_a_colon_is_left_out_when_the_request_says_its_words(
    section: str,
) -> None:
    said = "Your refund was approved on Monday."
    built = items(Candidate(turn(said, "Support: Tier 2", "assistant"), section, 0.9))
    assert built[0].text.endswith("Support: Tier 2: " + said)
    block, kept = render_block(
        built, [{"role": "assistant", "content": said}, {"role": "user", "content": "ok"}]
    )
    assert (block, kept) == ("", [])


SPEAKERS = ["Dr. Who: the Doctor", "安娜： 客服部", "[bot]: helper <v2>"]


@pytest.mark.parametrize("speaker", SPEAKERS)
@pytest.mark.parametrize("section", [RECENT, RELEVANT])
def test_a_turn_cut_to_fit_the_block_keeps_some_of_its_words_whatever_its_speaker_is_called(
    speaker: str, section: str
) -> None:
    # Its angle brackets, written as entities in the block, make it outgrow the budget: it is cut
    # to the room left, and a cut keeping the day and speaker and none of the words is dropped.
    text = "<<<< " * 6 + "Lisbon tram ticket prices went up again this spring, to four euros"
    built = items(Candidate(turn(text, speaker), section, 0.9))
    lead = neutralise(built[0].lead)
    assert lead.endswith(": ") and neutralise(built[0].text).startswith(lead)
    cuts = 0
    for budget in range(frame_tokens() + 10, frame_tokens() + 120):
        _, kept = render_block(built, [], budget)
        for k in kept:
            assert k.text.startswith(lead), (budget, k.text)
            assert k.text[len(lead) :].removesuffix("…").strip(), (budget, k.text)
            cuts += k.truncated
    assert cuts, "no budget cut the turn"
