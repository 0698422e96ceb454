"""What the assistant learns about its behaviour keeps one current lesson per topic.

"Please answer in French" and, later, "Please answer in English from now on" left "The assistant
should answer in French." and "The assistant should answer in English." both current: the context
(and so the gateway) told the model to answer in both. The same for "be more concise" / "give more
detailed answers" and "be more formal" / "be more casual". Now a later lesson on the same topic
(the reply language, the length, the formality) ends the earlier one, which stays for ``as_of``
with a SUPERSEDE in its history, as a home does; lessons on other topics ("don't use emojis",
"answer in bullet points") stay current beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from memoryd import AsyncMemory, Event

U = {"user_id": "ana"}
T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-09-01T00:00:00Z"


async def lessons(mem: AsyncMemory, **when: Any) -> list[str]:
    """The current (or ``as_of``) lessons of the assistant's."""
    page = await mem.get_all(**U, filters={"kind": "preference", "about": "assistant"}, limit=100, **when)
    return sorted(m.text for m in page.items)


async def every_lesson(mem: AsyncMemory) -> dict[str, Any]:
    flt = {"kind": "preference", "about": "assistant"}
    page = await mem.get_all(**U, filters=flt, include_expired=True, limit=100)
    return {m.text: m for m in page.items}


async def shown(mem: AsyncMemory) -> list[str]:
    """The lessons the context block offers (what the gateway injects)."""
    block = await mem.context("How should you answer me?", **U)
    return sorted(i.text for i in block.items if i.section == "Preferences")


CHANGES = [
    (
        "Please answer in French.",
        "Please answer in English from now on.",
        "The assistant should answer in French.",
        "The assistant should answer in English.",
    ),
    (
        "Please be more concise.",
        "Please give more detailed answers.",
        "The assistant should keep its answers concise.",
        "The assistant should give more detailed answers.",
    ),
    (
        "Please be more formal.",
        "Be more casual, please.",
        "The assistant should be more formal.",
        "The assistant should be more casual.",
    ),
    ("请用中文回答", "请用英文回答", "助手应该用中文回答。", "助手应该用英文回答。"),
    ("请简洁一点", "请详细一点", "助手应该回答得更简洁。", "助手应该回答得更详细。"),
    ("说话正式一点", "说话随意一点", "助手应该更正式一些。", "助手应该更随意一些。"),
    (  # the rules' other wordings of one topic, across languages
        "That answer was too long.",
        "Your answers are too short.",
        "The assistant should keep its answers concise.",
        "The assistant should give more detailed answers.",
    ),
    (
        "Please answer in French.",
        "请用中文回答",
        "The assistant should answer in French.",
        "助手应该用中文回答。",
    ),
    (
        "You're being too casual.",
        "Stop being so formal.",
        "The assistant should be more formal.",
        "The assistant should stop being so formal.",
    ),
]


@pytest.mark.parametrize(("first", "later", "was", "now"), CHANGES)
async def test_a_later_lesson_on_the_same_topic_ends_the_earlier(
    amem: AsyncMemory, first: str, later: str, was: str, now: str
) -> None:
    await amem.add(first, **U, run_id="s1", timestamp=T1)
    out = await amem.add(later, **U, run_id="s2", timestamp=T2)
    [change] = [r for r in out if r.kind == "preference"]
    assert (change.event, change.text, change.previous) == (Event.SUPERSEDE, now, was)
    assert await lessons(amem) == [now]
    assert await shown(amem) == [now]
    old = (await every_lesson(amem))[was]
    assert old.valid_to == datetime(2024, 6, 1, tzinfo=UTC)  # kept: what held then
    assert await lessons(amem, as_of=datetime(2024, 3, 1, tzinfo=UTC)) == [was]
    last = (await amem.history(old.id))[-1]
    assert (last.event, last.old_text, last.new_text) == (Event.SUPERSEDE, was, now)


@pytest.mark.parametrize(
    ("first", "later"),
    [
        ("Don't use emojis.", "Please answer in English."),
        ("Please answer in bullet points.", "Please answer in English."),  # a format, no language
        ("Please be more concise.", "Please be more formal."),
        ("Please be more patient.", "Please be more casual."),
        ("Stop apologizing.", "Please keep it short."),
        ("不要用表情符号", "请用英文回答"),
    ],
)
async def test_lessons_on_other_topics_both_stay_current(amem: AsyncMemory, first: str, later: str) -> None:
    await amem.add(first, **U, timestamp=T1)
    out = await amem.add(later, **U, timestamp=T2)
    [added] = [r for r in out if r.kind == "preference"]
    assert added.event is Event.ADD and added.previous is None
    current = await lessons(amem)
    assert len(current) == 2 and added.text in current
    assert await shown(amem) == current


async def test_a_lesson_can_turn_back_and_each_holds_in_its_time(amem: AsyncMemory) -> None:
    await amem.add("Please answer in French.", **U, timestamp=T1)
    await amem.add("Please answer in English from now on.", **U, timestamp=T2)
    out = await amem.add("Please answer in French.", **U, timestamp=T3)  # the same words again
    [back] = [r for r in out if r.kind == "preference"]
    assert (back.event, back.previous) == (Event.SUPERSEDE, "The assistant should answer in English.")
    assert await lessons(amem) == ["The assistant should answer in French."]
    assert await shown(amem) == ["The assistant should answer in French."]
    then = await lessons(amem, as_of=datetime(2024, 7, 1, tzinfo=UTC))
    assert then == ["The assistant should answer in English."]


async def test_a_lesson_told_late_is_added_already_ended(amem: AsyncMemory) -> None:
    await amem.add("Please answer in English.", **U, timestamp=T2)
    out = await amem.add("Please answer in French.", **U, timestamp=T1)  # an older session imported
    [late] = [r for r in out if r.kind == "preference"]
    assert late.event is Event.ADD and late.memory is not None
    assert late.memory.valid_to == datetime(2024, 6, 1, tzinfo=UTC)
    assert await lessons(amem) == ["The assistant should answer in English."]
    assert await lessons(amem, as_of=datetime(2024, 3, 1, tzinfo=UTC)) == [
        "The assistant should answer in French."
    ]


async def test_the_last_of_one_add_holds(amem: AsyncMemory) -> None:
    turns = [
        {"role": "user", "content": "Please answer in French."},
        {"role": "assistant", "content": "D'accord."},
        {"role": "user", "content": "Hmm, no. Please answer in German from now on. And don't use emojis."},
    ]
    await amem.add(turns, **U, timestamp=T1)
    expected = ["The assistant should answer in German.", "The assistant should not use emojis."]
    assert await lessons(amem) == expected
    assert await shown(amem) == expected
    french = (await every_lesson(amem))["The assistant should answer in French."]
    assert french.valid_to is not None


async def test_deleting_the_turn_that_changed_the_lesson_makes_the_one_before_current_again(
    amem: AsyncMemory,
) -> None:
    await amem.add("Please answer in French.", **U, timestamp=T1)
    out = await amem.add("Please answer in English from now on.", **U, timestamp=T2)
    [turn] = [r for r in out if r.kind == "episode"]
    await amem.delete(turn.id, **U)
    assert await lessons(amem) == ["The assistant should answer in French."]
    assert await shown(amem) == ["The assistant should answer in French."]


async def test_an_agents_lesson_never_ends_another_agents(amem: AsyncMemory) -> None:
    await amem.add("Please answer in French.", **U, agent_id="tutor", timestamp=T1)
    await amem.add("Please answer in English.", **U, agent_id="coder", timestamp=T2)
    await amem.add("Please answer in German.", **U, agent_id="coder", timestamp=T3)

    async def of(agent: str) -> list[str]:
        page = await amem.get_all(**U, agent_id=agent, filters={"kind": "preference"}, limit=100)
        return sorted(m.text for m in page.items)

    assert await of("tutor") == ["The assistant should answer in French."]
    assert await of("coder") == ["The assistant should answer in German."]
