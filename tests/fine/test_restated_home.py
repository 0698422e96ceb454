"""Fine mode (the scripted LLM vendor on loopback, real SQLite): a home, workplace or name stated
again word for word (a NOOP of the stored memory) after another one holds.

With "Alice lives in Paris" stored, one add of "I live in Lyon now" then "Actually I live in
Paris" gave the facts Lyon (the model: ADD) and Paris (known word for word: a NOOP, its turn
joining Paris's sources). The one-home-at-a-time rule laid them out by each memory's start,
Paris's long before, so Lyon ended Paris although the user's last word was Paris; the same for
an older session told late, after Paris was said again. Now Paris stays current and Lyon is
kept, ended where Paris was said again, with history saying why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.models import Event
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, of_kind

ALICE = {"user_id": "alice"}
T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-08-01T00:00:00Z"

LINES = [
    (
        "location",
        "Alice lives in Paris",
        "Alice lives in Lyon",
        "I live in Lyon now",
        "Actually I live in Paris",
    ),
    (
        "work",
        "Alice works at Acme",
        "Alice works at Globex",
        "I work at Globex now",
        "Actually I work at Acme",
    ),
    ("name", "Alice's name is Ana", "Alice's name is Anna", "Call me Anna", "Actually my name is Ana"),
]


def _said(*texts: str, **fact: Any) -> dict[str, Any]:
    """The extraction of one fact from each new message, in order."""
    return {"facts": [{"text": t, "sources": [i], **fact} for i, t in enumerate(texts)], "relations": []}


async def _seed(fine: AsyncMemory, fake_llm: Script, text: str, attribute: str, when: str) -> str:
    fake_llm.reply_json(_said(text, kind="profile", attribute=attribute))
    [memory] = of_kind(await fine.add(f"Note: {text}", **ALICE, mode="fine", timestamp=when), "profile")
    return str(memory.id)


async def _ended_by_restatement(fine: AsyncMemory, other: Any, kept: str, text: str) -> None:
    assert other.event is Event.ADD and other.id != kept
    assert other.reason is not None and other.reason.endswith(
        f"ended by memory {kept}, stated again after it"
    )
    assert (await fine.get(kept)).valid_to is None  # the user's last word holds
    assert (await fine.get(other.id)).valid_to is not None  # the other is kept, ended
    ended = (await fine.history(other.id))[-1]
    assert (ended.event, ended.new_text) == (Event.SUPERSEDE, text)
    assert ended.details["reason"] == f"memory {kept} was stated again after it"
    assert Event.SUPERSEDE not in [h.event for h in await fine.history(kept)]


@pytest.mark.parametrize("decision", ["ADD", "SUPERSEDE"])
@pytest.mark.parametrize(("attribute", "old", "new", "first", "again"), LINES)
async def test_one_add_restating_a_stored_one_after_another_keeps_it(
    fine: AsyncMemory,
    fake_llm: Script,
    decision: str,
    attribute: str,
    old: str,
    new: str,
    first: str,
    again: str,
) -> None:
    kept = await _seed(fine, fake_llm, old, attribute, T1)
    fake_llm.reply_json(_said(new, old, kind="profile", attribute=attribute))
    # The model is shown the fact not known word for word, as [0]; whatever it decides
    fake_llm.reply_json(
        decisions({"fact": 0, "event": decision, **({"target": 0} if decision != "ADD" else {})})
    )
    out = await fine.add([first, again], **ALICE, mode="fine", timestamp=T2)
    [known] = [r for r in of_kind(out, "profile") if r.id == kept]  # the NOOP is answered first
    [other] = [r for r in of_kind(out, "profile") if r.id != kept]
    assert known.event is Event.NOOP
    assert "ended in this add" not in str(known.reason)
    await _ended_by_restatement(fine, other, kept, old)
    assert (await fine.get(other.id)).valid_from == datetime(2024, 6, 1, tzinfo=UTC)
    assert len((await fine.get(kept)).source_ids) == 2  # the restating turn joined its sources


@pytest.mark.parametrize(("attribute", "old", "new", "first", "again"), LINES)
async def test_an_older_session_told_late_does_not_end_what_was_restated_after_it(
    fine: AsyncMemory, fake_llm: Script, attribute: str, old: str, new: str, first: str, again: str
) -> None:
    kept = await _seed(fine, fake_llm, old, attribute, T1)
    fake_llm.reply_json(_said(old, kind="profile", attribute=attribute))
    [known] = of_kind(await fine.add(again, **ALICE, mode="fine", timestamp=T3), "profile")
    assert (known.event, known.id) == (Event.NOOP, kept)
    fake_llm.reply_json(_said(new, kind="profile", attribute=attribute))
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD"}))
    [other] = of_kind(await fine.add(first, **ALICE, mode="fine", timestamp=T2), "profile")
    await _ended_by_restatement(fine, other, kept, old)
    stored = await fine.get(other.id)
    assert (stored.valid_from, stored.valid_to) == (
        datetime(2024, 6, 1, tzinfo=UTC),
        datetime(2024, 8, 1, tzinfo=UTC),
    )


async def test_a_home_said_after_the_restatement_in_one_add_ends_it(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """(Passed before: coverage.) Paris said again, then Lyon: Lyon is the last word."""
    paris = await _seed(fine, fake_llm, "Alice lives in Paris", "location", T1)
    fake_llm.reply_json(
        _said("Alice lives in Paris", "Alice lives in Lyon", kind="profile", attribute="location")
    )
    fake_llm.reply_json(decisions({"fact": 0, "event": "ADD"}))
    out = await fine.add(["I lived in Paris", "Now I live in Lyon"], **ALICE, mode="fine", timestamp=T2)
    known, lyon = of_kind(out, "profile")
    assert (known.event, lyon.event) == (Event.NOOP, Event.SUPERSEDE)
    assert (await fine.get(paris)).valid_to is not None and (await fine.get(lyon.id)).valid_to is None
