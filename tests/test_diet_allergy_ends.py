"""Fast mode reads that a diet or an allergy has ended.

"I'm not vegetarian anymore", "I'm no longer vegan", "I stopped being vegetarian", "I'm not
allergic to peanuts anymore", "I outgrew my peanut allergy" ended nothing: "The user is
vegetarian." stayed current. Now such a statement ends the diet (allergy) it names, as an end of
a home does: the end is current, the diet kept for ``as_of`` with a SUPERSEDE in its history.
Only the named diet or allergen ends; an end of one not stored, or without "anymore"/"no longer"
("I'm not vegetarian" may correct, not end), changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryd import AsyncMemory, Event
from memoryd.ingest.rules import extract_statements
from tests.rule_helpers import U, profile, profile_change, supersedes

T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-09-01T00:00:00Z"
BETWEEN = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "ending", "ended", "now"),
    [
        ("I'm vegetarian", "I'm not vegetarian anymore", "The user is vegetarian.", "The user is no longer vegetarian."),
        ("I'm vegan", "I'm no longer vegan.", "The user is vegan.", "The user is no longer vegan."),
        ("I'm vegetarian", "I stopped being vegetarian", "The user is vegetarian.", "The user is no longer vegetarian."),
        ("I'm a vegetarian", "I'm no longer a vegetarian", "The user is a vegetarian.", "The user is no longer vegetarian."),
        ("I'm allergic to peanuts", "I'm not allergic to peanuts anymore", "The user is allergic to peanuts.",
         "The user is no longer allergic to peanuts."),
        ("I'm allergic to peanuts", "I outgrew my peanut allergy", "The user is allergic to peanuts.",
         "The user outgrew their peanut allergy."),
        ("I'm allergic to cats", "I've outgrown my allergy to cats", "The user is allergic to cats.",
         "The user is no longer allergic to cats."),
    ],
)  # fmt: skip
async def test_an_end_of_a_diet_or_allergy_ends_it(
    amem: AsyncMemory, before: str, ending: str, ended: str, now: str
) -> None:
    await supersedes(amem, before, ending, ended, now, T1, T2)
    assert await profile(amem, as_of=BETWEEN) == [ended]
    page = await amem.get_all(**U, filters={"kind": "profile"}, include_expired=True, limit=100)
    old = next(m for m in page.items if m.text == ended)
    assert old.valid_to == datetime(2024, 6, 1, tzinfo=UTC)
    last = (await amem.history(old.id))[-1]
    assert (last.event, last.new_text) == (Event.SUPERSEDE, now)


ALL = [
    "The user is a nurse.",
    "The user is allergic to peanuts.",
    "The user is allergic to shellfish.",
    "The user is vegetarian.",
]


async def test_only_the_named_allergen_ends(amem: AsyncMemory) -> None:
    await amem.add(
        "I'm vegetarian. I'm a nurse. I'm allergic to peanuts. I'm allergic to shellfish.", **U, timestamp=T1
    )
    assert await profile(amem) == ALL
    await amem.add("I'm not allergic to peanuts anymore", **U, timestamp=T2)
    now = [t for t in ALL if "peanuts" not in t] + ["The user is no longer allergic to peanuts."]
    assert await profile(amem) == sorted(now)


@pytest.mark.parametrize(
    "other",
    [
        "I'm no longer vegan",  # vegetarian is stored, not vegan
        "I'm not allergic to cats anymore",
        "I'm not vegetarian",  # no "anymore": not an end
        "I'm not allergic to peanuts",
        "If I stopped being vegetarian, I'd eat fish",
        "Are you still vegetarian?",
        "My sister is no longer vegetarian",
        "I'm no longer allergic to Mondays",
    ],
)
async def test_an_end_of_another_diet_or_allergen_changes_nothing(amem: AsyncMemory, other: str) -> None:
    await amem.add(
        "I'm vegetarian. I'm a nurse. I'm allergic to peanuts. I'm allergic to shellfish.", **U, timestamp=T1
    )
    out = await amem.add(other, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == ALL


async def test_an_end_with_no_diet_stored_adds_nothing(amem: AsyncMemory) -> None:
    out = await amem.add("I'm not vegetarian anymore", **U, timestamp=T1)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == []


async def test_a_diet_said_again_after_its_end_is_current(amem: AsyncMemory) -> None:
    await amem.add("I'm vegetarian", **U, timestamp=T1)
    await amem.add("I'm not vegetarian anymore", **U, timestamp=T2)
    out = await amem.add("I'm vegetarian", **U, timestamp=T3)
    [change] = [r for r in out if r.kind == "profile"]
    assert (change.event, change.previous) == (Event.SUPERSEDE, "The user is no longer vegetarian.")
    assert await profile(amem) == ["The user is vegetarian."]


async def test_deleting_the_turn_that_ended_a_diet_makes_it_current_again(amem: AsyncMemory) -> None:
    await amem.add("I'm vegan", **U, timestamp=T1)
    out = await amem.add("I'm no longer vegan", **U, timestamp=T2)
    [turn] = [r for r in out if r.kind == "episode"]
    assert turn.id is not None
    await amem.delete(turn.id)
    assert await profile(amem) == ["The user is vegan."]


@pytest.mark.parametrize(
    "said",
    [
        "I'm not a vegetarian anymore than you are",  # the idiom "any more than"
        "I'm not vegan any more than my dog is",
        "I'm not allergic to cats any more than you are",
        "I'm not vegan anymore, she said",  # someone else's words
        "I'm not vegan anymore, he told me",
        "I'm not vegan anymore, or so my sister claims",
        "I'm not vegetarian anymore, my mom says",
        "I'm not vegan anymore starting tomorrow",  # still to come
        "I'm not vegan anymore from next week",
        "I'm not allergic to cats anymore after next week's shot",
        "I'm not vegan anymore when I travel",  # only at some times or places
        "I'm not vegan anymore on weekends",
        "I'm not vegetarian anymore at restaurants",
        "I'm no longer vegan when I travel",
    ],
)
async def test_what_follows_anymore_is_read_as_after_no_longer(amem: AsyncMemory, said: str) -> None:
    before = "I'm vegan. I'm vegetarian. I'm allergic to cats."
    await amem.add(before, **U, timestamp=T1)
    out = await amem.add(said, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == [
        "The user is allergic to cats.", "The user is vegan.", "The user is vegetarian."
    ]  # fmt: skip


@pytest.mark.parametrize("said", ["I'm not vegan anymore.", "I'm not vegan anymore, I eat meat now"])
async def test_a_plain_anymore_still_ends_the_diet(amem: AsyncMemory, said: str) -> None:
    change = await profile_change(amem, "I'm vegan", said, T1, T2)
    assert (change.event, change.text) == (Event.SUPERSEDE, "The user is no longer vegan.")
    assert await profile(amem) == ["The user is no longer vegan."]


@pytest.mark.parametrize(
    ("before", "ending", "now"),
    [
        ("I'm allergic to strawberries", "I outgrew my strawberry allergy", "The user outgrew their strawberry allergy."),
        ("I'm allergic to peaches", "I outgrew my peach allergy", "The user outgrew their peach allergy."),
        ("I'm allergic to tomatoes", "I outgrew my tomato allergy", "The user outgrew their tomato allergy."),
        ("I'm allergic to cherries", "I outgrew my cherry allergy", "The user outgrew their cherry allergy."),
        ("I'm allergic to shellfish", "I outgrew my allergy to shellfish as a kid",
         "The user is no longer allergic to shellfish."),
        ("I'm allergic to shellfish", "I outgrew my allergy to shellfish when I was little",
         "The user is no longer allergic to shellfish."),
        ("I'm allergic to shellfish", "I outgrew my allergy to shellfish last year",
         "The user is no longer allergic to shellfish."),
        ("I'm allergic to peanuts", "I outgrew my childhood peanut allergy", "The user outgrew their peanut allergy."),
    ],
)  # fmt: skip
async def test_an_allergy_end_names_the_allergen_as_stored(
    amem: AsyncMemory, before: str, ending: str, now: str
) -> None:
    change = await profile_change(amem, before, ending, T1, T2)
    assert (change.event, change.text) == (Event.SUPERSEDE, now)
    assert await profile(amem) == [now]


@pytest.mark.parametrize(
    "ending",
    [
        "I outgrew my old allergy",
        "I outgrew my bad allergy",
        "I outgrew my only allergy",
        "I outgrew my first allergy",
        "I outgrew my own allergy",
    ],
)
async def test_an_allergy_end_naming_no_allergen_reads_nothing(amem: AsyncMemory, ending: str) -> None:
    assert extract_statements(ending) == []  # no "The user outgrew their old allergy."
    await amem.add("I'm allergic to peanuts", **U, timestamp=T1)
    out = await amem.add(ending, **U, timestamp=T2)
    assert [r.kind for r in out] == ["episode"]
    assert await profile(amem, include_expired=True) == ["The user is allergic to peanuts."]
