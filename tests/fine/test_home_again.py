"""Fine mode (the scripted LLM vendor on loopback, real SQLite): a turn said again word for word
after what it stated has ended ("I live in London." in January, "I live in Paris." in June,
"I live in London." in December).

The third turn is a NOOP as an episode (a verbatim duplicate, by design); fine mode extracted
nothing from it, so Paris stayed the current home and the graph's lives_in Paris held. Now what
it states is extracted again (as fast mode's rules read it again): London is current again as a
new memory from December, Paris ended then, the old London kept for as_of.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.models import Event, MemoryRecord
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, facts, of_kind
from tests.fine.test_reopened_home import ALICE, homes, lives_in

JAN, JUN, DEC = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-12-01T00:00:00Z"
AUGUST = datetime(2024, 8, 1, tzinfo=UTC)


async def _live(mem: AsyncMemory, **when: Any) -> list[MemoryRecord]:
    page = await mem.get_all(**ALICE, **when)
    return [m for m in page.items if m.kind.value != "episode"]


async def _every(mem: AsyncMemory) -> list[MemoryRecord]:
    page = await mem.get_all(**ALICE, include_expired=True)
    return [m for m in page.items if m.kind.value != "episode"]


@pytest.mark.parametrize("decision", ["SUPERSEDE", "ADD"])
async def test_a_home_said_again_after_a_move_is_current_again(
    fine: AsyncMemory, fake_llm: Script, decision: str
) -> None:
    fake_llm.reply_json(lives_in("London"))
    [london] = of_kind(await fine.add("I live in London.", **ALICE, timestamp=JAN), "profile")
    fake_llm.reply_json(lives_in("Paris"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    [paris] = of_kind(await fine.add("I live in Paris.", **ALICE, timestamp=JUN), "profile")
    fake_llm.reply_json(lives_in("London"))
    # The model is shown the current home, Paris, as [0]: whatever it decides, one home at a time
    fake_llm.reply_json(decisions({"fact": 0, "event": decision, **({"target": 0} if decision != "ADD" else {})}))
    out = await fine.add("I live in London.", **ALICE, timestamp=DEC)
    assert out.llm.calls == 2 and fake_llm.pending == 0
    [episode] = of_kind(out, "episode")
    assert (episode.event, episode.id) == (Event.NOOP, out[0].id)  # the turn itself: a duplicate
    [again] = of_kind(out, "profile")
    assert again.event in (Event.ADD, Event.SUPERSEDE) and again.id not in (london.id, paris.id)
    dec = datetime(2024, 12, 1, tzinfo=UTC)
    now = await fine.get(again.id)
    assert (now.text, now.valid_from, now.valid_to) == ("Alice lives in London", dec, None)
    assert (await fine.get(paris.id)).valid_to == dec  # Paris ended when London was said again
    old = await fine.get(london.id)  # the first London kept as it was, for as_of
    assert (old.valid_from, old.valid_to) == (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))
    assert [m.text for m in await _live(fine)] == ["Alice lives in London"]
    assert [m.text for m in await _live(fine, as_of=AUGUST)] == ["Alice lives in Paris"]
    assert await homes(fine) == [("lives_in", "London", True)]
    assert await homes(fine, as_of=AUGUST) == [("lives_in", "Paris", False)]
    assert out.relations["deleted_entities"] == [{"source": "Alice", "relationship": "lives_in", "target": "Paris"}]
    assert len(await _every(fine)) == 3  # nothing destroyed


async def test_a_preference_said_again_after_it_ended_holds_again(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice loves coffee", kind="preference", preference="explicit"))
    [loved] = of_kind(await fine.add("I love coffee.", **ALICE, timestamp=JAN), "preference")
    fake_llm.reply_json(facts("Alice no longer drinks coffee"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "DELETE", "target": 0}))
    out = await fine.add("I quit coffee.", **ALICE, timestamp=JUN)
    assert [r.event for r in out if r.kind != "episode"] == [Event.DELETE]
    assert await _live(fine) == []
    fake_llm.reply_json(facts("Alice loves coffee", kind="preference", preference="explicit"))
    out = await fine.add("I love coffee.", **ALICE, timestamp=DEC)  # nothing current to show: no 2nd call
    [again] = of_kind(out, "preference")
    assert again.event is Event.ADD and again.id != loved.id
    assert [m.text for m in await _live(fine)] == ["Alice loves coffee"]
    assert await _live(fine, as_of=AUGUST) == []  # between the two, it did not hold
    stored = await fine.get(again.id)
    assert (stored.valid_from, stored.valid_to) == (datetime(2024, 12, 1, tzinfo=UTC), None)
    assert (await fine.get(loved.id)).valid_to == datetime(2024, 6, 1, tzinfo=UTC)


async def test_a_turn_said_again_whose_facts_all_hold_calls_no_model(fine: AsyncMemory, fake_llm: Script) -> None:
    """(Passed before: coverage.) Nothing it stated has ended: a NOOP, no LLM call."""
    fake_llm.reply_json(lives_in("London"))
    await fine.add("I live in London.", **ALICE, timestamp=JAN)
    out = await fine.add("I live in London.", **ALICE, timestamp=DEC)
    assert [r.event for r in out] == [Event.NOOP] and out.llm.calls == 0
    assert [m.text for m in await _live(fine)] == ["Alice lives in London"]


async def test_fast_mode_a_home_said_again_after_a_move_is_current_again(fine: AsyncMemory) -> None:
    """(Passed before: coverage of fast mode's verbatim duplicate.)"""
    for text, when in (("I live in London.", JAN), ("I live in Paris.", JUN), ("I live in London.", DEC)):
        await fine.add(text, **ALICE, timestamp=when, mode="fast")
    assert ["London" in m.text for m in await _live(fine)] == [True]
    assert ["Paris" in m.text for m in await _live(fine, as_of=AUGUST)] == [True]
