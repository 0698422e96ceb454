"""Fine mode's fallback to fast mode's rules (the LLM down, or answering nonsense) for a turn said
again word for word after what it stated has ended ("I live in London." in January, "I live in
Paris." in June, "I live in London." in December, the LLM failing on the last).

The add said "stored as in fast mode", but the fallback ran the rules over the new turns only, and
not at all when none was new: the restated London was lost and Paris stayed current. Fast mode
reads the turn again (its rules' ``plan.again``), so the fallback now does too: London is current
again from December, Paris ended then, as_of in between still gives Paris.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd import AsyncMemory
from memoryd.models import Event, MemoryRecord
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, of_kind
from tests.fine.test_reopened_home import ALICE, lives_in

JAN, JUN, DEC = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-12-01T00:00:00Z"
AUGUST = datetime(2024, 8, 1, tzinfo=UTC)
DECEMBER = datetime(2024, 12, 1, tzinfo=UTC)


async def _homes(mem: AsyncMemory, **when: object) -> list[MemoryRecord]:
    page = await mem.get_all(**ALICE, **when)
    return [m for m in page.items if m.kind.value == "profile"]


def _fail(fake_llm: Script, how: str) -> None:
    if how == "500":
        fake_llm.fail(500, message="upstream exploded", times=20)
    else:
        fake_llm.default_text("I am not JSON at all")


@pytest.mark.parametrize("how", ["500", "garbage"])
async def test_llm_down_throughout_a_home_said_again_is_current_again(
    fine: AsyncMemory, fake_llm: Script, how: str
) -> None:
    """Every add falls back (the homes are the rules'): the third stores nothing new, and the
    fallback skipped the rules entirely."""
    _fail(fake_llm, how)
    for text, when in (("I live in London.", JAN), ("I live in Paris.", JUN)):
        await fine.add(text, **ALICE, timestamp=when)
    [paris] = await _homes(fine)
    out = await fine.add("I live in London.", **ALICE, timestamp=DEC)
    assert out.llm is not None and "stored as in fast mode" in str(out.llm.fallback)
    assert [r.event for r in of_kind(out, "episode")] == [Event.NOOP]  # the turn itself: a duplicate
    [again] = of_kind(out, "profile")
    assert "London" in again.text and again.event in (Event.ADD, Event.SUPERSEDE)
    [now] = await _homes(fine)
    assert ("London" in now.text, now.valid_from, now.valid_to) == (True, DECEMBER, None)
    assert (await fine.get(paris.id)).valid_to == DECEMBER  # Paris ended when London was said again
    assert ["Paris" in m.text for m in await _homes(fine, as_of=AUGUST)] == [True]


@pytest.mark.parametrize("how", ["500", "garbage"])
async def test_llm_fails_on_the_repeat_a_home_it_stored_is_current_again(
    fine: AsyncMemory, fake_llm: Script, how: str
) -> None:
    """The LLM stored both homes, then failed on the repeat: the rules read it as fast mode does."""
    fake_llm.reply_json(lives_in("London"))
    await fine.add("I live in London.", **ALICE, timestamp=JAN)
    fake_llm.reply_json(lives_in("Paris"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    [paris] = of_kind(await fine.add("I live in Paris.", **ALICE, timestamp=JUN), "profile")
    _fail(fake_llm, how)
    out = await fine.add("I live in London.", **ALICE, timestamp=DEC)
    assert out.llm is not None and out.llm.calls > 0 and "stored as in fast mode" in str(out.llm.fallback)
    [again] = of_kind(out, "profile")
    assert "London" in again.text
    [now] = await _homes(fine)
    assert ("London" in now.text, now.valid_from, now.valid_to) == (True, DECEMBER, None)
    assert (await fine.get(paris.id)).valid_to == DECEMBER
    assert ["Paris" in m.text for m in await _homes(fine, as_of=AUGUST)] == [True]


async def test_fast_mode_a_home_the_llm_stored_said_again_is_current_again(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Fast mode's rules only read a repeat again if their own text had ended: a home the LLM
    worded ("Alice lives in London") never matched, so the restated London was lost there too."""
    fake_llm.reply_json(lives_in("London"))
    await fine.add("I live in London.", **ALICE, timestamp=JAN)
    fake_llm.reply_json(lives_in("Paris"))
    fake_llm.reply_json(decisions({"fact": 0, "event": "SUPERSEDE", "target": 0}))
    [paris] = of_kind(await fine.add("I live in Paris.", **ALICE, timestamp=JUN), "profile")
    out = await fine.add("I live in London.", **ALICE, timestamp=DEC, mode="fast")
    assert ["London" in r.text for r in of_kind(out, "profile")] == [True]
    [now] = await _homes(fine)
    assert ("London" in now.text, now.valid_from, now.valid_to) == (True, DECEMBER, None)
    assert (await fine.get(paris.id)).valid_to == DECEMBER
    assert ["Paris" in m.text for m in await _homes(fine, as_of=AUGUST)] == [True]
