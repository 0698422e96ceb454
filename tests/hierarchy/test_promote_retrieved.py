"""A segment made hot by retrievals alone is promoted by the next write of its owner, even a write
that moves no turn into mid-term (README, Memory hierarchy: "heat ≥ promote_heat: promotion")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from memoryd import load_settings
from tests.hierarchy.conftest import TOPICS, chat

Make = Callable[..., Any]


def _segments(tree: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for topic in tree["topics"] for s in topic["segments"]]


async def test_a_segment_heated_by_searches_is_promoted_by_the_next_write(
    tmp_path: Path, make_memory: Make
) -> None:
    settings = load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "retrieved.db"), "synchronous": "NORMAL"},
            "context": {"fast_rules": False},  # so promotion is where the rules run
            "tiers": {"short_term_turns": 2, "short_term_sessions": 2, "promote_heat": 3.0},
        },
    )
    async with make_memory(settings) as mem:
        await chat(mem, TOPICS["hiking"], run_id="s1")  # two turns leave short-term: heat 2.0
        [segment] = _segments(await mem.tree("ana"))
        assert segment["heat"] < 3.0 and segment["promoted_at"] is None
        for _ in range(2):  # each retrieves the segment's two turns: heat 6.0, hot
            hits = await mem.search("I love hiking in the mountains", user_id="ana", limit=5)
            assert TOPICS["hiking"][0][1] in [h.memory.text for h in hits]
        # a turn of a second session: it stays in short-term, no turn moves
        await chat(mem, [("user", "What time is it in Tokyo?")], run_id="s2")
        [loves] = (await mem.get_all(user_id="ana", filters={"kind": "preference"})).items
        assert loves.text == "The user loves hiking in the mountains."
        [promoted] = [s for s in _segments(await mem.tree("ana")) if s["id"] == segment["id"]]
        assert promoted["heat"] >= 3.0 and promoted["promoted_at"] is not None
        assert promoted["promotions"] == 1
        await chat(mem, [("user", "And in Osaka?")], run_id="s2")  # promoted once, not twice
        [again] = [s for s in _segments(await mem.tree("ana")) if s["id"] == segment["id"]]
        assert again["promotions"] == 1
        assert (await mem.get_all(user_id="ana", filters={"kind": "preference"})).total == 1
