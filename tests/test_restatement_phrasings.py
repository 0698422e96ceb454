"""Fast mode reads a home, workplace, name or taste restated or corrected as the plain statement.

"Actually I live in Paris." was read, but "Actually, I live in Paris." (a comma), "Well, I…", "Oh,
I…", "No, I live in Paris.", "Actually no, I still live in Paris.", "I still live in Paris.", "I
actually live in Paris.", "I still work at Acme", "Actually, my name is Ana", "Actually, I like tea"
stated nothing. Now a leading "actually", "well", "oh", "no", "yes"… (with a comma, up to three of
them) and a "still" / "actually" after "I" do not stop the statement. A negation ("No, I don't live
in Paris"), a question, a hypothetical and reported speech still state nothing.

Quoted words are left out before the rules read a message; an object that held them is not said in
full ("Yeah, I love the cover for "Heroes"" was "The user loves the cover for."): no taste is read
from it, while quoted words set off after a comma are an aside ('I live in Paris, "the city of
light"': Paris). "Yeah, I love to." is an intention ("The user loves to." before), and a word leading
the clause after a taste is no part of it ("apps on the go, especially when I'm stuck").
"""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from tests.rule_helpers import U, profile, states_nothing, supersedes

T1, T2 = "2022-05-01T00:00:00Z", "2024-06-01T00:00:00Z"
HOMES = [
    "Actually no, I still live in Paris.",
    "Actually, I live in Paris.",
    "Actually I live in Paris.",
    "Well, I live in Paris.",
    "No, I live in Paris.",
    "I still live in Paris.",
    "I actually live in Paris.",
    "Oh, I live in Paris.",
    "Actually, no, I still live in Paris.",
    "Yes, I live in Paris.",
    "I'm still living in Paris.",
]


async def tastes(mem: AsyncMemory) -> list[str]:
    page = await mem.get_all(**U, filters={"kind": "preference"}, limit=100)
    return sorted(m.text for m in page.items)


@pytest.mark.parametrize("said", HOMES)
async def test_a_restated_home_is_the_home(amem: AsyncMemory, said: str) -> None:
    await amem.add(said, **U, timestamp=T2)
    assert await profile(amem) == ["The user lives in Paris."]


@pytest.mark.parametrize("said", HOMES[:3])
async def test_a_corrected_home_ends_the_one_before(amem: AsyncMemory, said: str) -> None:
    await supersedes(
        amem, "I live in Rome", said, "The user lives in Rome.", "The user lives in Paris.", T1, T2
    )


@pytest.mark.parametrize(
    ("before", "said", "ended", "now"),
    [
        ("I work at Google", "I still work at Acme", "The user works at Google.", "The user works at Acme."),
        ("I work at Google", "No, I work at Acme.", "The user works at Google.", "The user works at Acme."),
        ("I work at Google", "Actually, I'm still working at Acme", "The user works at Google.", "The user works at Acme."),
        ("My name is Eva", "Actually, my name is Ana", "The user's name is Eva.", "The user's name is Ana."),
        ("My name is Eva", "No, no, my name is Ana.", "The user's name is Eva.", "The user's name is Ana."),
        ("I live in Rome", "Actually, I no longer live in Rome", "The user lives in Rome.", "The user no longer lives in Rome."),
    ],
)  # fmt: skip
async def test_a_restated_workplace_or_name_is_read(
    amem: AsyncMemory, before: str, said: str, ended: str, now: str
) -> None:
    await supersedes(amem, before, said, ended, now, T1, T2)


@pytest.mark.parametrize(
    ("said", "taste"),
    [
        ("Actually, I like tea", "The user likes tea."),
        ("I still like tea.", "The user likes tea."),
        ("Oh, I love nachos!", "The user loves nachos."),
        ("I actually prefer tea.", "The user prefers tea."),
        ("I still don't like coffee.", "The user dislikes coffee."),
        ("No, I don't like coffee.", "The user dislikes coffee."),
        ("Yeah, I love using those apps on the go, especially when I'm stuck in traffic.",
         "The user loves using those apps on the go."),
        ("I love unexpected endings in movies, especially when they're bittersweet.",
         "The user loves unexpected endings in movies."),
    ],
)  # fmt: skip
async def test_a_restated_taste_is_read(amem: AsyncMemory, said: str, taste: str) -> None:
    await amem.add(said, **U, timestamp=T2)
    assert await tastes(amem) == [taste]


@pytest.mark.parametrize(
    "said",
    [
        "No, I don't live in Paris.",
        "No, I do not live in Paris.",
        "I still live in Paris?",
        "No, I still live in Paris?",
        "Actually, if I lived in Paris, I'd be happy.",
        "Actually, if I still live in Paris next year, I'll visit.",
        "Actually, she said I live in Paris.",
        "Well, my friend thinks I still live in Paris.",
        "Oh, I would still live in Paris if I could.",
        "Actually, I live in Paris starting next year.",
        "Actually no, I never lived in Paris.",
    ],
)
async def test_a_negated_asked_or_hedged_restatement_states_nothing(amem: AsyncMemory, said: str) -> None:
    await states_nothing(amem, "I live in Rome", said, T1, T2)


@pytest.mark.parametrize(
    "said",
    [
        'Yeah, I absolutely love the cover for "The Invisible Invasion". It\'s so detailed.',
        'Also, I like the idea of a "no phone zone" in the morning.',
        'I love the song "Yesterday" by the Beatles.',
        'I really like the idea of "Feed the Future 5K".',
        "Yeah, I love to.",
        "I love to.",
    ],
)
async def test_a_taste_said_only_in_part_is_none(amem: AsyncMemory, said: str) -> None:
    await amem.add(said, **U, timestamp=T2)
    assert await tastes(amem) == []


@pytest.mark.parametrize(
    "said",
    [
        'I live in Paris, "the city of light".',
        'Well, I live in Paris ("Paree").',
        '"Hello!" I live in Paris.',
    ],
)
async def test_quoted_words_set_off_from_the_home_leave_it_read(amem: AsyncMemory, said: str) -> None:
    await amem.add(said, **U, timestamp=T2)
    assert await profile(amem) == ["The user lives in Paris."]
