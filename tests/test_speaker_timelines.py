"""Facts about another speaker have a timeline, as the user's homes do (memoryd/ingest/subjects.py):
one home, workplace and name at a time per person, never across people (real SQLite, real
embedder, public API)."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from tests.test_speakers import said


async def current(mem: AsyncMemory, user_id: str, kind: str, **at: str) -> list[str]:
    page = await mem.get_all(user_id=user_id, filters={"kind": kind}, **at)  # type: ignore[arg-type]
    return sorted(m.text for m in page.items)


async def test_another_speakers_later_home_supersedes_the_earlier(amem: AsyncMemory) -> None:
    first = await amem.add(
        [said("Caroline", "I live in Boston"), said("Melanie", "I live in Paris"), said("Bob", "I live in Oslo")],
        user_id="caroline", timestamp="2024-01-01T00:00:00Z",
    )  # fmt: skip
    paris = next(r for r in first if r.text == "Melanie lives in Paris.")
    out = await amem.add(said("melanie", "I live in Rome"), user_id="caroline", timestamp="2024-06-01T00:00:00Z")
    rome = out[-1]
    # her name as compared (any case): the same person's line
    assert (rome.text, rome.event.value, rome.previous) == ("melanie lives in Rome.", "SUPERSEDE", paris.text)
    # one home each: Melanie's ends neither Bob's nor the user's
    assert await current(amem, "caroline", "fact") == ["Bob lives in Oslo.", "melanie lives in Rome."]
    assert await current(amem, "caroline", "profile") == ["The user lives in Boston."]
    assert "Melanie lives in Paris." in await current(amem, "caroline", "fact", as_of="2024-03-01T00:00:00Z")
    ended = await amem.get(paris.id or "")
    assert ended.valid_to is not None and ended.valid_to.isoformat().startswith("2024-06-01")
    events = [(h.event.value, h.new_text) for h in await amem.history(paris.id or "")]
    assert events[-1] == ("SUPERSEDE", "melanie lives in Rome.")


async def test_another_speakers_home_told_late_is_added_already_ended(amem: AsyncMemory) -> None:
    await amem.add(
        [said(None, "I work at Globex"), said("Melanie", "I work at Acme")],  # the user's unnamed
        user_id="u-1", run_id="c1", timestamp="2024-06-01T00:00:00Z",
    )  # fmt: skip
    out = await amem.add(
        said("Melanie", "I work at Initech"), user_id="u-1", run_id="c1", timestamp="2024-01-01T00:00:00Z"
    )
    late = out[-1]
    assert late.text == "Melanie works at Initech." and late.memory is not None
    assert late.memory.valid_to is not None  # held until Acme
    assert await current(amem, "u-1", "fact") == ["Melanie works at Acme."]
    assert await current(amem, "u-1", "profile") == ["The user works at Globex."]


async def test_deleting_the_turn_that_moved_another_speaker_makes_the_earlier_home_current(
    amem: AsyncMemory,
) -> None:
    await amem.add([said("Caroline", "I live in Boston"), said("Melanie", "I live in Paris")], user_id="caroline")
    out = await amem.add(said("Melanie", "I live in Rome"), user_id="caroline")
    assert await current(amem, "caroline", "fact") == ["Melanie lives in Rome."]
    gone = await amem.delete(out[0].id)
    assert "Melanie lives in Rome." in [m.text for m in gone]
    assert await current(amem, "caroline", "fact") == ["Melanie lives in Paris."]


async def test_another_speakers_timeline_stays_in_its_users_scope(amem: AsyncMemory) -> None:
    await amem.add([said("Caroline", "I live in Boston"), said("Melanie", "I live in Paris")], user_id="caroline")
    await amem.add([said("Dana", "I live in Lima"), said("Melanie", "I live in Rome")], user_id="dana")
    assert await current(amem, "caroline", "fact") == ["Melanie lives in Paris."]
    assert await current(amem, "dana", "fact") == ["Melanie lives in Rome."]


async def test_another_speakers_end_of_home_or_workplace_settles_as_the_users(amem: AsyncMemory) -> None:
    await amem.add(
        [said(None, "I live in Boston"), said("Melanie", "I live in Rome"), said("Melanie", "I work at Initech")],
        user_id="u-1", run_id="c1", timestamp="2024-01-01T00:00:00Z",
    )  # fmt: skip
    out = await amem.add(
        said("Melanie", "I no longer live in Rome"),
        user_id="u-1",
        run_id="c1",
        timestamp="2024-06-01T00:00:00Z",
    )
    ended = out[-1]
    assert (ended.text, ended.event.value, ended.previous) == (
        "Melanie no longer lives in Rome.", "SUPERSEDE", "Melanie lives in Rome."
    )  # fmt: skip
    assert await current(amem, "u-1", "fact") == [
        "Melanie no longer lives in Rome.",
        "Melanie works at Initech.",
    ]
    assert "Melanie lives in Rome." in await current(amem, "u-1", "fact", as_of="2024-03-01T00:00:00Z")
    assert await current(amem, "u-1", "profile") == ["The user lives in Boston."]


@pytest.mark.parametrize(
    "text",
    [
        "I left Acme",  # no workplace of hers stated
        "I left Initech last year",  # hers is Globex
        "I moved out of Paris",
        "my wife and I just left for our European vacation",
        "I left London.",  # hers is Google London
    ],
)
async def test_another_speakers_end_of_what_was_not_theirs_is_not_stored(
    amem: AsyncMemory, text: str
) -> None:
    await amem.add(
        [said(None, "I work at Acme"), said("Melanie", "I live in Rome"), said("Bob", "I work at Google London")],
        user_id="u-1", run_id="c1", timestamp="2024-01-01T00:00:00Z",
    )  # fmt: skip
    await amem.add(
        said("Melanie", "I work at Globex"), user_id="u-1", run_id="c1", timestamp="2024-02-01T00:00:00Z"
    )
    for speaker in ("Melanie", "Bob"):
        out = await amem.add(
            said(speaker, text), user_id="u-1", run_id="c1", timestamp="2024-06-01T00:00:00Z"
        )
        assert [r.kind for r in out] == ["episode"]
    assert await current(amem, "u-1", "fact") == [
        "Bob works at Google London.", "Melanie lives in Rome.", "Melanie works at Globex."
    ]  # fmt: skip
    assert await current(amem, "u-1", "profile") == ["The user works at Acme."]


async def test_another_speakers_end_of_workplace_ends_theirs_only(amem: AsyncMemory) -> None:
    await amem.add(
        [said(None, "I work at Acme"), said("Melanie", "I work at Acme"), said("Bob", "I work at Acme")],
        user_id="u-1", run_id="c1", timestamp="2024-01-01T00:00:00Z",
    )  # fmt: skip
    await amem.add(
        said("Melanie", "I left Acme last year."),
        user_id="u-1",
        run_id="c1",
        timestamp="2024-06-01T00:00:00Z",
    )
    assert await current(amem, "u-1", "fact") == ["Bob works at Acme.", "Melanie no longer works at Acme."]
    assert await current(amem, "u-1", "profile") == ["The user works at Acme."]


async def test_another_speakers_favourite_is_one_per_category(amem: AsyncMemory) -> None:
    await amem.add(
        [said(None, "My favorite food is tacos"), said("Melanie", "My favorite food is pizza"),
         said("Melanie", "My favorite color is blue"), said("Bob", "My favorite food is curry")],
        user_id="u-1", run_id="c1", timestamp="2024-01-01T00:00:00Z",
    )  # fmt: skip
    out = await amem.add(
        said("Melanie", "My favorite food is sushi"),
        user_id="u-1",
        run_id="c1",
        timestamp="2024-06-01T00:00:00Z",
    )
    sushi = out[-1]
    assert (sushi.text, sushi.event.value, sushi.previous) == (
        "Melanie's favorite food is sushi.", "SUPERSEDE", "Melanie's favorite food is pizza."
    )  # fmt: skip
    assert await current(amem, "u-1", "fact") == [
        "Bob's favorite food is curry.", "Melanie's favorite color is blue.", "Melanie's favorite food is sushi."
    ]  # fmt: skip
    assert "Melanie's favorite food is pizza." in await current(
        amem, "u-1", "fact", as_of="2024-03-01T00:00:00Z"
    )
    assert await current(amem, "u-1", "preference") == ["The user's favorite food is tacos."]


@pytest.mark.parametrize(
    ("first", "ending", "ended", "now"),
    [
        ("I'm vegan", "I'm not vegan anymore", "Melanie is vegan.", "Melanie is no longer vegan."),
        ("I'm vegetarian", "I stopped being vegetarian", "Melanie is vegetarian.", "Melanie is no longer vegetarian."),
        ("I'm allergic to peanuts", "I outgrew my peanut allergy", "Melanie is allergic to peanuts.",
         "Melanie outgrew their peanut allergy."),
        ("I'm allergic to cats", "I'm no longer allergic to cats", "Melanie is allergic to cats.",
         "Melanie is no longer allergic to cats."),
    ],
)  # fmt: skip
async def test_another_speakers_end_of_a_diet_or_allergy_ends_theirs_only(
    amem: AsyncMemory, first: str, ending: str, ended: str, now: str
) -> None:
    await amem.add(
        [said("Caroline", first), said("Melanie", first), said("Bob", first),
         said("Melanie", "I'm a nurse"), said("Melanie", "I'm allergic to shellfish")],
        user_id="caroline", timestamp="2024-01-01T00:00:00Z",
    )  # fmt: skip
    mine = await current(amem, "caroline", "profile")
    out = await amem.add(said("Melanie", ending), user_id="caroline", timestamp="2024-06-01T00:00:00Z")
    change = out[-1]
    assert (change.text, change.event.value, change.previous) == (now, "SUPERSEDE", ended)
    bobs = ended.replace("Melanie", "Bob")
    facts = await current(amem, "caroline", "fact")
    assert facts == sorted([bobs, now, "Melanie is a nurse.", "Melanie is allergic to shellfish."])
    assert ended in await current(amem, "caroline", "fact", as_of="2024-03-01T00:00:00Z")
    assert await current(amem, "caroline", "profile") == mine  # the user's own stays
    assert len(mine) == 1 and "no longer" not in mine[0] and "outgrew" not in mine[0]


@pytest.mark.parametrize("ending", ["I'm not vegan anymore", "I outgrew my peanut allergy"])
async def test_another_speakers_end_of_a_diet_or_allergy_not_theirs_is_not_stored(
    amem: AsyncMemory, ending: str
) -> None:
    await amem.add(
        [said("Caroline", "I'm vegan"), said("Caroline", "I'm allergic to peanuts"),
         said("Melanie", "I'm vegetarian"), said("Melanie", "I'm allergic to cats")],
        user_id="caroline", timestamp="2024-01-01T00:00:00Z",
    )  # fmt: skip
    out = await amem.add(said("Melanie", ending), user_id="caroline", timestamp="2024-06-01T00:00:00Z")
    assert [r.kind for r in out] == ["episode"]
    facts = ["Melanie is allergic to cats.", "Melanie is vegetarian."]
    assert await current(amem, "caroline", "fact") == facts
    assert await current(amem, "caroline", "profile") == [
        "The user is allergic to peanuts.", "The user is vegan."
    ]  # fmt: skip
