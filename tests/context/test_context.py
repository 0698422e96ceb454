"""``AsyncMemory.context``: the budget holds, the most relevant survive, the session stays in order."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from memoryd.context.builder import PREFERENCES, PROFILE, RECENT, RELEVANT
from memoryd.context.tokens import count_tokens
from memoryd.errors import InvalidInputError
from tests.context.conftest import SESSION

QUERY = "Where does my sister live?"


@pytest.mark.parametrize("budget", [20, 35, 50, 80, 120, 200, 350, 500, 800, 1200, 2000])
async def test_the_budget_is_never_exceeded(filled: AsyncMemory, budget: int) -> None:
    ctx = await filled.context(QUERY, user_id="ana", run_id="s2", token_budget=budget)
    assert ctx.budget == budget
    assert ctx.tokens == count_tokens(ctx.text) <= budget
    assert ctx.tokens == sum(i.tokens for i in ctx.items) + sum(count_tokens(f"## {s}") for s in ctx.sections)
    assert ctx.items, "even 20 tokens hold one item"


async def test_every_item_is_tagged_with_its_id(filled: AsyncMemory) -> None:
    ctx = await filled.context(QUERY, user_id="ana", run_id="s2", token_budget=2000)
    lines = ctx.text.splitlines()
    for item in ctx.items:
        assert item.id.endswith(item.tag)
        assert f"[{item.tag}] {item.text}" in lines
        stored = await filled.get(item.id, user_id="ana")
        assert stored.kind.value == item.kind
    assert len({i.id for i in ctx.items}) == len(ctx.items)
    assert len({(i.kind, i.text) for i in ctx.items}) == len(ctx.items)


async def test_sections_come_from_profile_preferences_search_and_session(filled: AsyncMemory) -> None:
    ctx = await filled.context(QUERY, user_id="ana", run_id="s2", token_budget=2000)
    by_section: dict[str, list[str]] = {}
    for item in ctx.items:
        by_section.setdefault(item.section, []).append(item.text)
    assert "The user's name is Ana Lima." in by_section[PROFILE]
    assert "The user lives in Lisbon." in by_section[PROFILE]
    assert "The user loves hiking in the mountains." in by_section[PREFERENCES]
    assert any("Carla lives in Porto" in t for t in by_section[RELEVANT])
    headers = [line for line in ctx.text.splitlines() if line.startswith("## ")]
    assert headers == [f"## {s}" for s in (PROFILE, PREFERENCES, RELEVANT, RECENT)]
    assert all("chess" not in i.text for i in ctx.items), "another user's memories never leak in"


async def test_session_turns_are_in_order_and_not_repeated(filled: AsyncMemory) -> None:
    ctx = await filled.context(QUERY, user_id="ana", run_id="s2", token_budget=2000)
    recent = [i.text for i in ctx.items if i.section == RECENT]
    assert recent == [f"{role}: {text}" for role, text in SESSION]
    relevant_ids = {i.id for i in ctx.items if i.section == RELEVANT}
    recent_ids = {i.id for i in ctx.items if i.section == RECENT}
    assert not relevant_ids & recent_ids


async def test_the_most_relevant_is_kept_when_trimming(filled: AsyncMemory) -> None:
    full = await filled.context(QUERY, user_id="ana", token_budget=2000)
    ranked = [i for i in full.items if i.section == RELEVANT]
    assert "Carla lives in Porto" in ranked[0].text
    for budget in (60, 90, 150):
        small = await filled.context(QUERY, user_id="ana", token_budget=budget)
        kept = [i.id for i in small.items if i.section == RELEVANT]
        order = [i.id for i in ranked]
        # best first: what is kept is in the order of relevance (a line that does not fit leaves its
        # room to a shorter one after it; each line's [tag] costs 6 to 11 tokens, by its random id)
        assert [order.index(k) for k in kept] == sorted(order.index(k) for k in kept)
        assert small.dropped > 0
    tight = await filled.context(QUERY, user_id="ana", token_budget=150)
    assert any("Carla lives in Porto" in i.text for i in tight.items)


async def test_no_session_no_recent_section_and_bad_input(filled: AsyncMemory) -> None:
    ctx = await filled.context("hiking", user_id="ana")
    assert ctx.budget == filled.settings.context.token_budget
    assert all(i.section != RECENT for i in ctx.items)
    empty = await filled.context("anything", user_id="nobody")
    assert empty.items == [] and empty.text == "" and empty.tokens == 0
    with pytest.raises(InvalidInputError) as bad:
        await filled.context("hiking", user_id="ana", token_budget=0)
    assert bad.value.field == "token_budget"
    with pytest.raises(InvalidInputError):
        await filled.context("  ", user_id="ana")
    with pytest.raises(InvalidInputError):
        await filled.context("hiking", user_id=None)


async def test_turns_stored_in_one_add_keep_their_order(rmem: AsyncMemory) -> None:
    turns = [
        {"role": "user", "content": "Can you recommend a book about sailing?"},
        {"role": "assistant", "content": "Try 'The Riddle of the Sands'."},
        {"role": "user", "content": "Thanks, and one about knots?"},
        {"role": "assistant", "content": "The Ashley Book of Knots."},
    ]
    await rmem.add(turns, user_id="ana", run_id="one-add")  # one add: one time for all four
    ctx = await rmem.context("books", user_id="ana", run_id="one-add", token_budget=2000)
    assert [i.text for i in ctx.items if i.section == RECENT] == [
        f"{t['role']}: {t['content']}" for t in turns
    ]


async def test_turns_already_in_the_session_leave_the_relevant_slots_to_others(rmem: AsyncMemory) -> None:
    slots = rmem.settings.context.max_episodes
    past = [f"In 2019 I hiked trail number {i} in the Alps and it was beautiful." for i in range(slots + 2)]
    await rmem.add(past, user_id="ana", run_id="old")
    now = [f"Today I hiked trail number {i} in the Alps and it was beautiful." for i in range(6)]
    await rmem.add(now, user_id="ana", run_id="cur")
    ctx = await rmem.context("hiking trails in the Alps", user_id="ana", run_id="cur", token_budget=5000)
    relevant = [i.text for i in ctx.items if i.section == RELEVANT]
    assert len(relevant) == slots and all("2019" in t for t in relevant)
    assert len([i for i in ctx.items if i.section == RECENT]) == len(now)


async def test_what_the_prompt_already_holds_uses_none_of_the_budget(rmem: AsyncMemory) -> None:
    long_answer = " ".join(f"Step {i}: mix the flour with water and knead the dough." for i in range(60))
    await rmem.add([{"role": "user", "content": "How do I bake bread?"},
                    {"role": "assistant", "content": long_answer}], user_id="ana", run_id="kitchen")  # fmt: skip
    facts = ["My oven runs hot, so I bake bread at 200C", "I bake bread with rye flour",
             "I bake bread every Sunday", "My bread tin is 30 cm long"]  # fmt: skip
    await rmem.add(facts, user_id="ana", run_id="notes")
    asked = "At what temperature should I bake my bread?"
    plain = await rmem.context(asked, user_id="ana", run_id="kitchen", token_budget=300)
    told = await rmem.context(asked, user_id="ana", run_id="kitchen", token_budget=300,
                              exclude=["How do I bake bread?", f"  {long_answer} "])  # fmt: skip
    assert any(long_answer[:40] in i.text for i in plain.items)  # the answer, cut to fit, took the room
    assert not any(long_answer[:40] in i.text or "How do I bake" in i.text for i in told.items)
    kept = [f for f in facts if any(f in i.text for i in told.items)]
    assert len(kept) > len([f for f in facts if any(f in i.text for i in plain.items)]) and len(kept) == 4


@pytest.mark.parametrize(
    ("exclude", "field"), [([1], "exclude.0"), (["ok", None], "exclude.1"), ("a text", "exclude")]
)
async def test_exclude_holding_other_than_texts_is_refused_as_the_server_refuses_it(
    rmem: AsyncMemory, exclude: object, field: str
) -> None:
    # it was ignored (a number) or read letter by letter (a string): the embedded API and REST differed
    with pytest.raises(InvalidInputError) as info:
        await rmem.context("bread", user_id="ana", exclude=exclude)  # type: ignore[arg-type]
    assert info.value.field == field


async def test_an_agent_of_a_user_sees_its_own_memories_and_the_users_shared_ones_not_other_agents(
    rmem: AsyncMemory,
) -> None:
    await rmem.add(["My name is Ana.", "I am allergic to peanuts."], user_id="ana")  # no agent: shared
    await rmem.add("I love sushi", user_id="ana", agent_id="travel-bot")
    await rmem.add("Can you suggest a snack?", user_id="ana", agent_id="chef-bot", run_id="r1")
    built = await rmem.context("a snack without peanuts?", user_id="ana", agent_id="chef-bot", run_id="r1")
    assert "The user's name is Ana." in built.text and "allergic to peanuts" in built.text
    assert "Can you suggest a snack?" in built.text
    assert "sushi" not in built.text  # another agent's
    alone = await rmem.context("suggest a snack", user_id="ana", agent_id="travel-bot")
    assert "sushi" in alone.text and "snack" not in alone.text


async def test_a_session_of_no_user_has_a_context_too(rmem: AsyncMemory) -> None:
    await rmem.add(["I am planning a trip to Kyoto", "We fly in April"], run_id="s9")
    await rmem.add("I am planning a trip to Oslo", user_id="ana", run_id="s9")  # a user's: not the run's
    built = await rmem.context("when do we fly?", user_id=None, run_id="s9")
    assert "We fly in April" in built.text and "Kyoto" in built.text and "Oslo" not in built.text


@pytest.mark.parametrize(
    "request_",
    [
        "请简洁一点",
        "别再道歉了",
        "以后请用中文回答",
        "不要用表情符号",
        "回答详细一点",
        "please be more concise",
    ],
)
async def test_a_short_request_to_the_assistant_is_listed_once_as_the_preference_read_from_it(
    rmem: AsyncMemory, request_: str
) -> None:
    await rmem.add(request_, user_id="fb")
    await rmem.add("I am planning a trip to Rome", user_id="fb")
    built = await rmem.context(request_ + " Rome", user_id="fb")
    prefs = [i for i in built.items if i.section == PREFERENCES]
    assert len(prefs) == 1 and prefs[0].text.startswith(("助手", "The assistant"))
    assert request_ not in built.text  # the request it was read from says nothing more
    assert "trip to Rome" in built.text


async def test_a_request_that_says_more_keeps_its_turn(rmem: AsyncMemory) -> None:
    said = "请简洁一点，我下周要去罗马出差，需要订酒店"
    await rmem.add(said, user_id="fb")
    built = await rmem.context("罗马出差 酒店", user_id="fb")
    assert any(i.section == PREFERENCES for i in built.items)
    assert said in built.text
