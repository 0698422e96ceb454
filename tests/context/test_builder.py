"""The pure builder: dedupe, priority under a short budget, rendering, truncation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memoryd.context.builder import PREFERENCES, PROFILE, RECENT, RELEVANT, Candidate, build_context
from memoryd.context.tokens import count_tokens
from memoryd.models import MemoryKind, MemoryRecord, content_hash

T0 = datetime(2024, 5, 1, 10, tzinfo=UTC)


def record(n: int, text: str, kind: MemoryKind = MemoryKind.EPISODE, **extra: object) -> MemoryRecord:
    when = T0 + timedelta(minutes=n)
    fields: dict[str, object] = {
        "id": f"{n:08d}-0000-4000-8000-000000000000",
        "text": text,
        "kind": kind,
        "user_id": "ana",
        "agent_id": None,
        "run_id": "s1",
        "metadata": {},
        "role": "user" if kind is MemoryKind.EPISODE else None,
        "actor": None,
        "source_ids": (),
        "event_time": when,
        "created_at": when,
        "updated_at": when,
        "hash": content_hash(text),
        "valid_from": when,
    }
    fields.update(extra)
    return MemoryRecord(**fields)  # type: ignore[arg-type]


def test_duplicates_by_id_hash_and_source_are_listed_once() -> None:
    turn = record(1, "I love hiking")
    same_text = record(2, "i LOVE   hiking")
    pref = record(3, "The user loves hiking.", MemoryKind.PREFERENCE, source_ids=(turn.id,))
    other = record(4, "My sister lives in Porto")
    ctx = build_context(
        [
            Candidate(pref, PREFERENCES, 0.9),
            Candidate(turn, RELEVANT, 0.8),
            Candidate(same_text, RELEVANT, 0.7),
            Candidate(other, RECENT),
            Candidate(other, RELEVANT, 0.5),
        ],
        1000,
    )
    assert [(i.section, i.text) for i in ctx.items] == [
        (PREFERENCES, "The user loves hiking."),
        (RECENT, "user: My sister lives in Porto"),
    ]


def test_a_turn_that_says_more_than_what_was_distilled_from_it_keeps_its_place() -> None:
    both = record(1, "My name is Ana. I am allergic to peanuts.")
    name = record(2, "The user's name is Ana.", MemoryKind.PROFILE, source_ids=(both.id,))
    short = record(3, "我叫安娜")
    zh = record(4, "用户的名字是安娜。", MemoryKind.PROFILE, source_ids=(short.id,))
    ctx = build_context(
        [Candidate(name, PROFILE), Candidate(zh, PROFILE), Candidate(both, RELEVANT, 0.8), Candidate(short, RELEVANT, 0.7)],
        1000,
    )
    texts = [i.text for i in ctx.items]
    assert any("allergic to peanuts" in t for t in texts)  # the allergy is nowhere else
    assert not any(t.endswith("我叫安娜") for t in texts)  # the name only: said already


def test_short_budget_keeps_profile_then_the_best_of_preferences_and_memories_together() -> None:
    profile = Candidate(record(1, "The user's name is Ana.", MemoryKind.PROFILE), PROFILE)
    prefs = [
        Candidate(record(10 + i, f"The user likes sport {i}.", MemoryKind.PREFERENCE), PREFERENCES, i / 10)
        for i in range(5)
    ]
    hits = [
        Candidate(record(20 + i, f"memory number {i} about the trip"), RELEVANT, i / 10 + 0.05)
        for i in range(5)
    ]
    cands = [profile, *prefs, *hits]
    best = sorted((c.score for c in [*prefs, *hits]), reverse=True)
    full = build_context(cands, 5000)
    assert full.dropped == 0 and len(full.items) == 11
    for budget in range(20, 200, 7):
        ctx = build_context(cands, budget)
        assert ctx.tokens == count_tokens(ctx.text) <= budget
        kept = [i.text for i in ctx.items]
        assert kept[0] == "The user's name is Ana."
        for section in (PREFERENCES, RELEVANT):
            scores = [i.score for i in ctx.items if i.section == section]
            assert scores == sorted(scores, reverse=True)
        kept_scores = sorted((i.score for i in ctx.items if i.section != PROFILE), reverse=True)
        # the best first, whatever their section (the last may be one that fits where a better did not)
        assert kept_scores[:-1] == best[: max(len(kept_scores) - 1, 0)]


def test_recent_turns_render_oldest_first_and_keep_the_newest() -> None:
    turns = [Candidate(record(i, f"turn {i} of the chat"), RECENT) for i in range(8)]
    ctx = build_context(list(reversed(turns)), 30)
    shown = [i.text for i in ctx.items]
    assert shown == sorted(shown) and shown[-1] == "user: turn 7 of the chat"
    assert len(shown) < 8 and ctx.text.startswith("## Recent conversation\n[00000")


def test_a_long_item_is_cut_to_fit() -> None:
    long = record(1, " ".join(["hiking in the mountains of Portugal"] * 40), MemoryKind.FACT)
    ctx = build_context([Candidate(long, RELEVANT, 1.0)], 40)
    [item] = ctx.items
    assert item.truncated and item.text.endswith("…")
    assert ctx.tokens == count_tokens(ctx.text) <= 40


def test_unknown_section_is_a_bug() -> None:
    with pytest.raises(ValueError):
        build_context([Candidate(record(1, "x"), "Elsewhere")], 100)


def test_nothing_to_say() -> None:
    ctx = build_context([], 100)
    assert ctx.text == "" and ctx.items == [] and ctx.tokens == 0 and ctx.budget == 100
