"""Fast mode reads a joint statement of the user and someone else ("My sister and I moved out of
Rome", "My wife and I left Acme") as the user's own: it includes the user, so it ends the user's
home (workplace) when that is the place it names, as "I moved out of Rome" does; never the other
person's. What another person alone did ("My sister moved out of Rome") is not the user's and
ends nothing.
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory, Event
from tests.rule_helpers import U, profile

T1, T2 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    ("before", "joint", "ended", "now"),
    [
        ("I live in Rome", "My sister and I moved out of Rome", "The user lives in Rome.",
         "The user no longer lives in Rome."),
        ("I work at Acme", "My wife and I left Acme", "The user works at Acme.",
         "The user no longer works at Acme."),
        ("I live in Rome", "My sister and I moved to Lisbon", "The user lives in Rome.",
         "The user lives in Lisbon."),
    ],
)  # fmt: skip
async def test_a_joint_statement_is_the_users_own(
    amem: AsyncMemory, before: str, joint: str, ended: str, now: str
) -> None:
    await amem.add(before, **U, timestamp=T1)
    out = await amem.add(joint, **U, timestamp=T2)
    [change] = [r for r in out if r.kind != "episode"]
    assert (change.kind, change.event, change.text, change.previous) == (
        "profile",
        Event.SUPERSEDE,
        now,
        ended,
    )
    assert await profile(amem) == [now]
    assert await profile(amem, include_expired=True) == sorted([ended, now])  # kept, not destroyed
    every = (await amem.get_all(**U, include_expired=True, limit=100)).items
    drafted = [m.text for m in every if m.kind != "episode"]
    assert not [t for t in drafted if "sister" in t.lower() or "wife" in t.lower()]  # not hers


@pytest.mark.parametrize(
    "theirs", ["My sister moved out of Rome", "My wife left Acme", "My sister and Bob moved out of Rome"]
)
async def test_what_another_person_alone_did_ends_nothing(amem: AsyncMemory, theirs: str) -> None:
    await amem.add("I live in Rome. I work at Acme.", **U, timestamp=T1)
    out = await amem.add(theirs, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
    current = ["The user lives in Rome.", "The user works at Acme."]
    assert await profile(amem, include_expired=True) == current
