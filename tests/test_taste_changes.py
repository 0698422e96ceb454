"""Fast mode keeps one stance on a thing at a time: a later opposite taste ends the earlier one.

"I like coffee" in one session and "I don't like coffee anymore" in a later one left "The user
likes coffee." and "The user dislikes coffee." both current: search and the context showed
contradictory tastes. Now the later statement (by when it was said) ends the earlier opposite one
on the owner's timeline (the user's shared memories and the writing agent's own, never another
agent's), which stays for ``as_of`` with a SUPERSEDE in its history; one told late is added
already ended. The same thing, not a similar one: "tea" is not "green tea".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from memoryd import AsyncMemory, Event, Memory

U = {"user_id": "ana"}
T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-09-01T00:00:00Z"


async def tastes(mem: AsyncMemory, agent_id: str | None = None, **when: Any) -> list[str]:
    """The current (or ``as_of``) tastes the user (with ``agent_id``: that agent) reads."""
    page = await mem.get_all(**U, filters={"kind": "preference"}, limit=100, **when)
    return sorted(m.text for m in page.items if m.agent_id in (None, agent_id))


async def every_taste(mem: AsyncMemory) -> dict[str, Any]:
    page = await mem.get_all(**U, filters={"kind": "preference"}, include_expired=True, limit=100)
    return {m.text: m for m in page.items}


@pytest.mark.parametrize("later", ["I don't like coffee anymore", "I hate coffee.", "I no longer like coffee"])
async def test_a_later_opposite_taste_ends_the_earlier_one(amem: AsyncMemory, later: str) -> None:
    await amem.add("I like coffee", **U, run_id="s1", timestamp=T1)
    out = await amem.add(later, **U, run_id="s2", timestamp=T2)
    assert await tastes(amem) == ["The user dislikes coffee."]
    [change] = [r for r in out if r.kind == "preference"]
    assert (change.event, change.previous) == (Event.SUPERSEDE, "The user likes coffee.")
    like = (await every_taste(amem))["The user likes coffee."]
    assert like.valid_to == datetime(2024, 6, 1, tzinfo=UTC)  # kept: what held then
    then = await tastes(amem, as_of=datetime(2024, 3, 1, tzinfo=UTC))
    assert then == ["The user likes coffee."]
    last = (await amem.history(like.id))[-1]
    assert (last.event, last.old_text, last.new_text) == (Event.SUPERSEDE, like.text, "The user dislikes coffee.")
    # search and the context show one stance
    hits = await amem.search("does she like coffee?", **U, filters={"kind": "preference"})
    assert [h.memory.text for h in hits] == ["The user dislikes coffee."]
    block = await amem.context("coffee", **U)
    assert "dislikes coffee" in block.text and "likes coffee" not in block.text.replace("dislikes coffee", "")


async def test_a_taste_can_turn_back_and_each_stance_holds_in_its_time(amem: AsyncMemory) -> None:
    await amem.add("I love coffee", **U, timestamp=T1)
    await amem.add("I hate coffee", **U, timestamp=T2)
    out = await amem.add("I love coffee again", **U, timestamp=T3)
    [back] = [r for r in out if r.kind == "preference"]
    assert (back.event, back.previous) == (Event.SUPERSEDE, "The user dislikes coffee.")
    assert await tastes(amem) == ["The user loves coffee."]
    assert await tastes(amem, as_of=datetime(2024, 7, 1, tzinfo=UTC)) == ["The user dislikes coffee."]
    assert await tastes(amem, as_of=datetime(2024, 2, 1, tzinfo=UTC)) == ["The user loves coffee."]


async def test_a_taste_told_late_is_added_already_ended(amem: AsyncMemory) -> None:
    await amem.add("I like coffee", **U, timestamp=T2)
    out = await amem.add("I hate coffee", **U, timestamp=T1)  # history imported after the fact
    [late] = [r for r in out if r.kind == "preference"]
    assert late.event is Event.ADD and late.memory is not None
    assert late.memory.valid_to == datetime(2024, 6, 1, tzinfo=UTC)
    assert await tastes(amem) == ["The user likes coffee."]
    assert await tastes(amem, as_of=datetime(2024, 3, 1, tzinfo=UTC)) == ["The user dislikes coffee."]
    like = (await every_taste(amem))["The user likes coffee."]
    assert like.valid_to is None and [h.event for h in await amem.history(like.id)] == [Event.ADD]


async def test_the_same_stance_again_is_no_change_and_ends_nothing(amem: AsyncMemory) -> None:
    first = await amem.add("I like coffee", **U, timestamp=T1)
    again = await amem.add("I like coffee!", **U, timestamp=T2)
    [noop] = [r for r in again if r.kind == "preference"]
    assert noop.event is Event.NOOP and noop.id == first[1].id
    await amem.add("I love tea. I love jazz.", **U, timestamp=T3)  # other things: tastes add up
    assert await tastes(amem) == ["The user likes coffee.", "The user loves jazz.", "The user loves tea."]


@pytest.mark.parametrize(
    ("earlier", "later", "current"),
    [
        # case, articles and trailing punctuation do not make another thing
        ("I like the Beatles", "I can't stand Beatles!", ["The user dislikes Beatles."]),
        ("I love Coffee.", "I dislike coffee", ["The user dislikes coffee."]),
        ("我喜欢咖啡", "我不喜欢咖啡了", ["用户不喜欢咖啡。"]),
        ("我讨厌香菜", "我喜欢香菜", ["用户喜欢香菜。"]),
        # a similar thing is another thing
        ("I like tea", "I hate green tea", ["The user dislikes green tea.", "The user likes tea."]),
        ("I like green tea", "I hate tea", ["The user dislikes tea.", "The user likes green tea."]),
        ("I like coffee", "I hate coffee ice cream", ["The user dislikes coffee ice cream.", "The user likes coffee."]),
        ("我喜欢茶", "我不喜欢绿茶", ["用户不喜欢绿茶。", "用户喜欢茶。"]),
    ],
)
async def test_the_same_thing_is_matched_and_nothing_else(
    amem: AsyncMemory, earlier: str, later: str, current: list[str]
) -> None:
    await amem.add(earlier, **U, timestamp=T1)
    await amem.add(later, **U, timestamp=T2)
    assert await tastes(amem) == current


async def test_two_stances_in_one_add_leave_the_later_one(amem: AsyncMemory) -> None:
    await amem.add(["I like coffee.", "Well I hate coffee."], **U, timestamp=T1)
    assert await tastes(amem) == ["The user dislikes coffee."]


async def test_deleting_the_turn_that_turned_a_taste_makes_the_one_before_current_again(amem: AsyncMemory) -> None:
    await amem.add("I like coffee", **U, timestamp=T1)
    out = await amem.add("I hate coffee", **U, timestamp=T2)
    [turn] = [r for r in out if r.kind == "episode"]
    await amem.delete(turn.id, **U)
    assert await tastes(amem) == ["The user likes coffee."]


async def test_an_agents_taste_ends_the_users_shared_one_but_never_another_agents(amem: AsyncMemory) -> None:
    await amem.add("I like coffee", **U, timestamp=T1)  # shared by every agent
    await amem.add("I like tea", **U, agent_id="healthbot", timestamp=T1)  # healthbot's own
    await amem.add("I hate coffee", **U, agent_id="travelbot", timestamp=T2)
    await amem.add("I hate tea", **U, agent_id="travelbot", timestamp=T2)
    for agent in ("travelbot", "healthbot", None):  # no view holds both stances on coffee
        assert "The user likes coffee." not in await tastes(amem, agent)
    assert await tastes(amem, "travelbot") == ["The user dislikes coffee.", "The user dislikes tea."]
    assert await tastes(amem, "healthbot") == ["The user dislikes coffee.", "The user likes tea."]


def test_the_sync_api_keeps_one_stance_too(mem: Memory) -> None:
    mem.add("I like coffee", **U, timestamp=T1)
    mem.add("I don't like coffee anymore", **U, timestamp=T2)
    page = mem.get_all(**U, filters={"kind": "preference"})
    assert [m.text for m in page.items] == ["The user dislikes coffee."]
    gone = mem.get_all(**U, filters={"kind": "preference"}, include_expired=True)
    assert len(gone.items) == 2
    assert datetime(2024, 6, 1, tzinfo=UTC) in [m.valid_to for m in gone.items]


async def test_the_opposite_taste_is_found_however_many_tastes_hold_its_words(amem: AsyncMemory) -> None:
    # 1,100 stored tastes hold "tea" ("steak"): a lookup of the texts holding the thing, capped at
    # 1,000, missed "The user likes tea." and both stances stayed current
    await amem.add("I like tea", **U, timestamp=T1)
    for k in range(0, 1100, 275):
        said = [{"role": "user", "content": f"I like steak number {i}"} for i in range(k, k + 275)]
        await amem.add(said, **U, timestamp=T2)
    out = await amem.add("I hate tea", **U, timestamp=T3)
    [change] = [r for r in out if r.kind == "preference"]
    assert (change.event, change.previous) == (Event.SUPERSEDE, "The user likes tea.")
    page = await amem.get_all(**U, filters={"kind": "preference", "text": {"contains": " tea"}})
    assert [m.text for m in page.items] == ["The user dislikes tea."]


async def test_an_add_of_many_tastes_looks_the_stored_ones_up_at_once(
    amem: AsyncMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each taste of an add scanned the user's tastes for its thing (128 likes: 128 scans, the
    # slower the more tastes are stored); now one exact lookup by hash for the whole add
    await amem.add([{"role": "user", "content": f"I like dish {i}"} for i in range(200)], **U, timestamp=T1)
    records = amem.storage.records
    reads: list[str] = []
    for name in ("select_ids", "with_hashes"):
        real = getattr(records, name)

        async def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            reads.append(_name)
            return await _real(*args, **kw)

        monkeypatch.setattr(records, name, counted)
    out = await amem.add([{"role": "user", "content": f"I hate dish {i}"} for i in range(64)], **U, timestamp=T2)
    assert sum(r.event is Event.SUPERSEDE for r in out) == 64
    assert len(reads) <= 2
    assert (await amem.get_all(**U, filters={"kind": "preference"}, limit=1)).total == 200  # 64 ended


@pytest.mark.parametrize(
    ("first", "then", "kind", "expected"),
    [
        ("I like coffee", "I hate coffee", "preference", "The user likes coffee."),
        ("I live in Paris", "I live in Rome", "profile", "The user lives in Paris."),
    ],
)
async def test_a_turn_said_again_after_its_statement_ended_makes_it_current_again(
    amem: AsyncMemory, first: str, then: str, kind: str, expected: str
) -> None:
    # the third turn repeats the first word for word: a duplicate episode (NOOP), so the rules never
    # read it and the statement of the second stayed current
    await amem.add(first, **U, timestamp=T1)
    between = await amem.add(then, **U, timestamp=T2)
    out = await amem.add(first, **U, timestamp=T3)
    assert out[0].event is Event.NOOP  # the turn is stored once
    [back] = [r for r in out if r.kind == kind]
    assert back.event is Event.SUPERSEDE and back.text == expected
    page = await amem.get_all(**U, filters={"kind": kind})
    assert [m.text for m in page.items] == [expected]
    was = await amem.get_all(**U, filters={"kind": kind}, as_of=datetime(2024, 7, 1, tzinfo=UTC))
    assert [m.text for m in was.items] == [back.previous]
    # said again while it holds: nothing more (a NOOP turn, no rule row)
    assert [r.kind for r in await amem.add(first, **U)] == ["episode"]
    # the turn between deleted: one current copy
    await amem.delete(next(r.id for r in between if r.kind == "episode"), **U)
    page = await amem.get_all(**U, filters={"kind": kind})
    assert [m.text for m in page.items] == [expected]


async def test_a_statement_said_again_in_one_add_after_its_opposite_holds(amem: AsyncMemory) -> None:
    said = ["I like tea", "I hate tea", "I like tea!", "I live in Paris", "I live in Rome", "I live in Paris."]
    await amem.add([{"role": "user", "content": s} for s in said], **U)
    page = await amem.get_all(**U, filters={"kind": {"in": ["preference", "profile"]}})
    assert sorted(m.text for m in page.items) == ["The user likes tea.", "The user lives in Paris."]


STATED = {"I like coffee": "The user likes coffee.", "I live in Rome": "The user lives in Rome."}


def _turns(*said: str, timed: bool = False) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": s, **({"timestamp": f"2024-06-0{i + 1}T00:00:00Z"} if timed else {})}
        for i, s in enumerate(said)
    ]


@pytest.mark.parametrize(
    ("stored", "said", "timed", "kind", "expected"),
    [
        ("I like coffee", ("I hate coffee", "I like coffee!"), False, "preference", "The user likes coffee."),
        ("I like coffee", ("I hate coffee", "I like coffee"), True, "preference", "The user likes coffee."),
        ("I live in Rome", ("I live in Paris", "I live in Rome!"), False, "profile", "The user lives in Rome."),
        # the other order: the opposite is the last
        ("I like coffee", ("I like coffee!", "I hate coffee"), False, "preference", "The user dislikes coffee."),
        ("I like coffee", ("I like coffee", "I hate coffee"), True, "preference", "The user dislikes coffee."),
        ("I live in Rome", ("I live in Rome!", "I live in Paris"), False, "profile", "The user lives in Paris."),
    ],
)  # fmt: skip
async def test_in_one_add_the_last_statement_wins_over_a_stored_current_one(
    amem: AsyncMemory, stored: str, said: tuple[str, ...], timed: bool, kind: str, expected: str
) -> None:
    # "I like coffee" stored, then one add of "I hate coffee" and "I like coffee": the repeat was a
    # NOOP of the stored (current) taste, so the opposite said before it in the add stayed current
    await amem.add(stored, **U, timestamp=T1)
    await amem.add(_turns(*said, timed=timed), **U, timestamp=T2)
    page = await amem.get_all(**U, filters={"kind": kind})
    assert [m.text for m in page.items] == [expected]
    every = await amem.get_all(**U, filters={"kind": kind}, include_expired=True)
    assert sum(m.valid_to is None for m in every.items) == 1
    was = await amem.get_all(**U, filters={"kind": kind}, as_of=datetime(2024, 3, 1, tzinfo=UTC))
    assert [m.text for m in was.items] == [STATED[stored]]  # what held before the add is kept


@pytest.mark.parametrize(
    ("stored", "said", "expected"),
    [
        # the repeat is the stored turn word for word, at the add's one instant: message order decides
        ("I like coffee", ("I hate coffee", "I like coffee"), "The user likes coffee."),
        ("I live in Rome", ("I live in Paris", "I live in Rome"), "The user lives in Rome."),
        ("I like coffee", ("I like coffee", "I hate coffee"), "The user dislikes coffee."),
        # the repeat is an earlier turn of the same add (nothing stored before)
        (None, ("I like coffee", "I hate coffee", "I like coffee"), "The user likes coffee."),
        (None, ("I live in Rome", "I live in Paris", "I live in Rome"), "The user lives in Rome."),
        (None, ("I hate coffee", "I like coffee", "I like coffee"), "The user likes coffee."),
        (None, ("I like coffee", "I like coffee", "I hate coffee"), "The user dislikes coffee."),
    ],
)  # fmt: skip
async def test_a_turn_repeated_word_for_word_in_one_add_counts_in_message_order(
    amem: AsyncMemory, stored: str | None, said: tuple[str, ...], expected: str
) -> None:
    # neither carried a time of its own: the repeat (a NOOP turn) was read as said at the same
    # instant as its opposite, so it never won; a repeat of a turn of the same add was not read at all
    if stored is not None:
        await amem.add(stored, **U, timestamp=T1)
    await amem.add(_turns(*said), **U, timestamp=T2)
    turns = await amem.get_all(**U, filters={"kind": "episode"})
    assert len(turns.items) == len({*said, *([stored] if stored else [])})  # each turn stored once
    kind = "preference" if "coffee" in expected else "profile"
    page = await amem.get_all(**U, filters={"kind": kind})
    assert [m.text for m in page.items] == [expected]
    every = await amem.get_all(**U, filters={"kind": kind}, include_expired=True)
    assert sum(m.valid_to is None for m in every.items) == 1
