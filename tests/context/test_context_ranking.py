"""What a short budget keeps: name, home and workplace first, the most relevant of preferences and
memories together, and every turn of the recent conversation (a transcript, not deduplicated)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memoryd import AsyncMemory
from memoryd.context.builder import PREFERENCES, PROFILE, RECENT, RELEVANT, Candidate, build_context
from memoryd.context.tokens import count_tokens
from memoryd.models import MemoryKind
from tests.context.test_builder import record

HOBBIES = ["jazz", "hiking", "sushi", "chess", "gardening", "yoga", "painting", "cycling", "baking",
           "poetry", "tennis", "opera", "camping", "knitting", "surfing", "photography", "salsa dancing",
           "birdwatching", "pottery", "skiing"]  # fmt: skip
PASTIMES = ["painter", "runner", "baker", "chess player", "gardener", "guitarist", "swimmer", "writer",
            "cyclist", "climber", "photographer", "potter", "dancer", "singer", "birdwatcher", "surfer",
            "skier", "knitter", "carpenter", "drummer", "poet", "juggler", "sailor", "fisherman", "volunteer"]  # fmt: skip
PRESCRIBED = "My cardiologist Dr. Okonkwo said my blood pressure is 150/95 and prescribed lisinopril"


def ts(days: int) -> str:
    return (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=days)).isoformat()


def test_profile_puts_name_home_and_work_first_then_relevance_then_the_newest() -> None:
    def profile(n: int, text: str, attribute: str, score: float = 0.0) -> Candidate:
        return Candidate(record(n, text, MemoryKind.PROFILE, metadata={"attribute": attribute}), PROFILE, score)

    name = profile(1, "The user's name is Eve Adams.", "name")
    home = profile(2, "The user lives in Lyon.", "location")
    work = profile(3, "The user works at Globex.", "work")
    music = profile(40, "The user is a guitarist in their spare time.", "identity", 0.6)
    newest = profile(50, "The user is a juggler in their spare time.", "identity")
    older = profile(30, "The user is a sailor in their spare time.", "identity")
    cands = [newest, older, music, work, home, name]
    full = build_context(cands, 5000)
    assert [i.text for i in full.items] == [c.memory.text for c in (name, home, work, music, newest, older)]
    for budget in (20, 30, 45, 60):
        ctx = build_context(cands, budget)
        assert ctx.tokens == count_tokens(ctx.text) <= budget
        kept = [i.id for i in ctx.items]
        assert kept == [c.memory.id for c in (name, home, work, music, newest)][: len(kept)]


def test_a_recent_turn_repeating_another_speakers_words_is_kept() -> None:
    ask = record(1, "Shall we book the 9am flight?", role="assistant")
    yes = record(2, "Yes, book it.")
    echo = record(2, "Yes, book it.", role="assistant", id="00000003-0000-4000-8000-000000000000")
    again = record(4, "Yes, book it.", run_id="s0", id="00000004-0000-4000-8000-000000000000")
    said_by_a_fact = record(5, "Yes, book it.", MemoryKind.FACT)
    cands = [Candidate(m, RECENT) for m in (echo, yes, ask)]  # newest first, as gathered
    cands += [Candidate(again, RELEVANT, 0.9), Candidate(said_by_a_fact, RELEVANT, 0.8)]
    ctx = build_context(cands, 1000)
    assert [(i.section, i.text) for i in ctx.items] == [
        (RELEVANT, "Yes, book it."),  # not a turn: nobody's words repeated
        (RECENT, "assistant: Shall we book the 9am flight?"),
        (RECENT, "user: Yes, book it."),
        (RECENT, "assistant: Yes, book it."),
    ], "the user's earlier 'Yes, book it.' (same speaker, same words) is listed once"
    assert ctx.tokens == count_tokens(ctx.text)


@pytest.mark.parametrize("budget", [60, 120, 300])
async def test_preferences_do_not_push_out_the_most_relevant_memory(rmem: AsyncMemory, budget: int) -> None:
    for i, hobby in enumerate(HOBBIES):
        await rmem.add(f"I love {hobby}", user_id="pq", timestamp=ts(i))
    await rmem.add(PRESCRIBED, user_id="pq", timestamp=ts(25))
    ctx = await rmem.context("What medication did my cardiologist prescribe?", user_id="pq", token_budget=budget)
    assert ctx.tokens == count_tokens(ctx.text) <= budget
    [best] = [i for i in ctx.items if PRESCRIBED in i.text]
    assert best.section == RELEVANT and not best.truncated
    prefs = [i.score for i in ctx.items if i.section == PREFERENCES]
    assert all(s <= best.score for s in prefs) and (prefs or budget < 100)  # the rest: preferences


async def test_name_and_home_come_first_and_survive_the_profile_cap(rmem: AsyncMemory) -> None:
    assert len(PASTIMES) + 2 > rmem.settings.context.max_facts
    await rmem.add("My name is Eve Adams", user_id="eve", timestamp=ts(0))
    await rmem.add("I live in Lyon", user_id="eve", timestamp=ts(1))
    for i, pastime in enumerate(PASTIMES):
        await rmem.add(f"I'm a {pastime} in my spare time", user_id="eve", timestamp=ts(2 + i))
    first = ["The user's name is Eve Adams.", "The user lives in Lyon."]
    for query, budget in [("what's my name?", 60), ("what's my name?", 120), ("what's my name?", 200),
                          ("any plans for the weekend?", 3000)]:  # fmt: skip
        ctx = await rmem.context(query, user_id="eve", token_budget=budget)
        assert ctx.tokens == count_tokens(ctx.text) <= budget
        profile = [i.text for i in ctx.items if i.section == PROFILE]
        assert profile[:2] == first, (query, budget)
        assert len(profile) > 2


async def test_the_rest_of_the_profile_is_ranked_by_relevance(rmem: AsyncMemory) -> None:
    await rmem.add("My name is Eve Adams", user_id="eve", timestamp=ts(0))
    for i, pastime in enumerate(PASTIMES):
        await rmem.add(f"I'm a {pastime} in my spare time", user_id="eve", timestamp=ts(2 + i))
    ctx = await rmem.context("Do you remember which musical instrument I play?", user_id="eve", token_budget=60)
    profile = [i.text for i in ctx.items if i.section == PROFILE]
    assert profile[0] == "The user's name is Eve Adams."
    assert "guitarist" in profile[1] or "drummer" in profile[1], profile


async def test_the_recent_conversation_keeps_a_turn_that_repeats_another_speakers(rmem: AsyncMemory) -> None:
    turns = [
        {"role": "assistant", "content": "Shall we book the 9am flight?"},
        {"role": "user", "content": "Yes, book it."},
        {"role": "assistant", "content": "Yes, book it."},
    ]
    await rmem.add(turns, user_id="u1", run_id="s")
    ctx = await rmem.context("flight", user_id="u1", run_id="s")
    assert [i.text for i in ctx.items if i.section == RECENT] == [f"{t['role']}: {t['content']}" for t in turns]
    assert ctx.tokens == count_tokens(ctx.text) <= ctx.budget
