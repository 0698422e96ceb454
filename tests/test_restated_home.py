"""Fast mode: a home, workplace or name stated again word for word (a NOOP of the stored memory,
which began long before) still holds after another one said before the restatement.

The rules laid the timeline out by each memory's start only: with "I live in Paris" stored, said
again ("Actually I live in Paris", a NOOP: the turn joins Paris's sources), an older session's add
of "I live in Lyon" arriving later (its ``timestamp`` before the restatement, after Paris began)
ended Paris and left Lyon current, although the user's last word was Paris. Now a memory stated
again is on its timeline at each restatement too: Paris stays current, Lyon is stored ended
where Paris was said again, its history and the add's answer saying why.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd import AsyncMemory, Event
from tests.rule_helpers import U, profile

T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-08-01T00:00:00Z"

CASES = [
    ("I live in Paris.", "Actually I live in Paris.", "I live in Lyon.", "The user lives in Paris.",
     "The user lives in Lyon."),
    ("I work at Acme.", "Actually I work at Acme.", "I work at Globex.", "The user works at Acme.",
     "The user works at Globex."),
    ("My name is Ana.", "Actually my name is Ana.", "My name is Anna.", "The user's name is Ana.",
     "The user's name is Anna."),
]  # fmt: skip


@pytest.mark.parametrize(("first", "again", "older", "kept", "told"), CASES)
async def test_an_older_session_told_late_does_not_end_what_was_restated_after_it(
    amem: AsyncMemory, first: str, again: str, older: str, kept: str, told: str
) -> None:
    [_, stored] = await amem.add(first, **U, timestamp=T1)
    [_, noop] = await amem.add(again, **U, timestamp=T3)
    assert (noop.event, noop.id) == (Event.NOOP, stored.id)
    out = await amem.add(older, **U, timestamp=T2)  # an older session, arriving late
    [late] = [r for r in out if r.kind == "profile"]
    assert late.event is Event.ADD and late.text == told
    assert (
        late.reason
        == f"rule: {late.memory.metadata['rule']}; ended by memory {stored.id}, stated again after it"
    )
    assert await profile(amem) == [kept]  # the last word holds
    assert (await amem.get(stored.id)).valid_to is None
    lyon = await amem.get(late.id)
    assert (lyon.valid_from, lyon.valid_to) == (
        datetime(2024, 6, 1, tzinfo=UTC),
        datetime(2024, 8, 1, tzinfo=UTC),
    )
    ended = (await amem.history(late.id))[-1]
    assert (ended.event, ended.new_text) == (Event.SUPERSEDE, kept)
    assert ended.details["reason"] == f"memory {stored.id} was stated again after it"
    assert [h.event for h in await amem.history(stored.id)] == [Event.ADD]
    assert await profile(amem, as_of=datetime(2024, 3, 1, tzinfo=UTC)) == [kept]
    assert await profile(amem, as_of=datetime(2024, 9, 1, tzinfo=UTC)) == [kept]


async def test_a_home_told_after_the_restatement_still_ends_it(amem: AsyncMemory) -> None:
    """(Passed before: coverage.) Said after the restatement, the other home is the last word."""
    [_, paris] = await amem.add("I live in Paris.", **U, timestamp=T1)
    await amem.add("Actually I live in Paris.", **U, timestamp=T2)
    out = await amem.add("I live in Lyon.", **U, timestamp=T3)
    [lyon] = [r for r in out if r.kind == "profile"]
    assert (lyon.event, lyon.previous) == (Event.SUPERSEDE, "The user lives in Paris.")
    assert await profile(amem) == ["The user lives in Lyon."]
    assert (await amem.get(paris.id)).valid_to == datetime(2024, 8, 1, tzinfo=UTC)


async def test_an_older_session_before_the_first_statement_stays_history(amem: AsyncMemory) -> None:
    """(Passed before: coverage.) Told late and older than Paris itself, Lyon ends where Paris began."""
    await amem.add("I live in Paris.", **U, timestamp=T2)
    await amem.add("Actually I live in Paris.", **U, timestamp=T3)
    out = await amem.add("I live in Lyon.", **U, timestamp=T1)
    [lyon] = [r for r in out if r.kind == "profile"]
    assert lyon.event is Event.ADD and lyon.memory.valid_to == datetime(2024, 6, 1, tzinfo=UTC)
    assert await profile(amem) == ["The user lives in Paris."]


async def test_one_add_restating_the_home_after_another_keeps_it(amem: AsyncMemory) -> None:
    """(Passed before: coverage.) In one add the home said last holds, stated anew."""
    await amem.add("I live in Paris.", **U, timestamp=T1)
    await amem.add(["I live in Lyon now.", "Actually I live in Paris."], **U, timestamp=T2)
    assert await profile(amem) == ["The user lives in Paris."]
    assert await profile(amem, include_expired=True) == [
        "The user lives in Lyon.",
        "The user lives in Paris.",
        "The user lives in Paris.",
    ]


async def test_a_restatement_in_an_add_with_its_own_times_orders_by_them(amem: AsyncMemory) -> None:
    """(Passed before: coverage.) Messages with their own timestamps: the later one is the last word."""
    await amem.add("I live in Paris.", **U, timestamp=T1)
    await amem.add(
        [
            {"role": "user", "content": "Actually I live in Paris.", "timestamp": T3},
            {"role": "user", "content": "I live in Lyon.", "timestamp": T2},
        ],
        **U,
    )
    assert await profile(amem) == ["The user lives in Paris."]
    assert await profile(amem, as_of=datetime(2024, 7, 1, tzinfo=UTC)) == ["The user lives in Lyon."]
