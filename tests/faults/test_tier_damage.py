"""The memory hierarchy's tables damaged (as a crash or a bug would leave them): `memoryd check`
names what is wrong; on a sound store it reports nothing.

Before, `check` looked at the records, both indexes and the graph only: a turn of no memory, a
segment counting turns it does not hold, a turn filed under another user passed as sound. The
damage is done to the real SQLite file with sqlite3, while no memoryd has it open.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from memoryd import AsyncMemory, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store
from tests.faults.test_index_damage import damage
from tests.hierarchy.conftest import TOPICS, tier_settings

FIRST_SEGMENT = "(SELECT id FROM segments ORDER BY rowid LIMIT 1)"
SHORT_TURN = "(SELECT max(seq) FROM tier_turns WHERE segment_id IS NULL)"
BO = """'["bo", null, null]'"""


async def build(tmp_path: Path, embedder: USEEmbedder) -> Settings:
    """Ana's four topics in one session, then a little of a second: segments and short-term turns."""
    settings = tier_settings(tmp_path)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        for turns in TOPICS.values():
            for role, text in turns:
                await mem.add({"role": role, "content": text}, user_id="ana", run_id="s1")
        await mem.add("Any plans for the weekend?", user_id="ana", run_id="s2")
        counts = (await mem.users())[0]  # a sound store with both tiers filled
        assert counts["tiers"]["segments"] >= 2 and counts["tiers"]["short_term_turns"] >= 2, counts
    return settings


async def test_a_sound_hierarchy_checks_clean(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = await build(tmp_path, embedder)
    report = await check_store(settings, embedder=embedder)
    assert report.ok, report.problems
    assert report.counts["tier_turns"] == 17  # every episode has its place


DAMAGE = {
    "a turn of no memory": (
        [
            "INSERT INTO tier_turns (memory_id, owner, user_id, agent_id, run_id, at, level, segment_id, vector, "
            "words) SELECT 'ghost-turn', owner, user_id, agent_id, run_id, at, level, segment_id, vector, words "
            f"FROM tier_turns WHERE seq = {SHORT_TURN}"
        ],
        "1 hierarchy turn names a memory that does not exist (e.g. ghost-turn)",
    ),
    "a turn of a profile memory": (
        [
            "UPDATE tier_turns SET memory_id = (SELECT id FROM memories WHERE kind = 'profile' LIMIT 1) "
            f"WHERE seq = {SHORT_TURN}"
        ],
        "1 hierarchy turn names a memory that is not an episode",
    ),
    "a turn of a memory no longer current": (
        [
            "UPDATE memories SET valid_to = valid_from + 1 "
            f"WHERE id = (SELECT memory_id FROM tier_turns WHERE seq = {SHORT_TURN})"
        ],
        "1 hierarchy turn names a memory that is not current",
    ),
    "a turn filed under another user": (
        [f"UPDATE tier_turns SET owner = {BO}, user_id = 'bo' WHERE seq = {SHORT_TURN}"],
        "1 hierarchy turn's owner or session disagrees with its memory's",
    ),
    "a segment counting a turn it does not hold": (
        [f"UPDATE segments SET turns = turns + 1 WHERE id = {FIRST_SEGMENT}"],
        "1 hierarchy segments whose turn count disagrees with the turns they hold",
    ),
    "a segment gone from under its turns": (
        [f"DELETE FROM segments WHERE id = {FIRST_SEGMENT}"],
        "hierarchy turns in a segment that does not exist",
    ),
    "a segment with no turns": (
        [
            "INSERT INTO segments (id, owner, user_id, agent_id, label, keywords, centroid, turns, created_at, "
            "touched_at, tier) SELECT 'empty-segment', owner, user_id, agent_id, label, keywords, centroid, 2, "
            f"created_at, touched_at, tier FROM segments WHERE id = {FIRST_SEGMENT}"
        ],
        "1 hierarchy segments that hold no turns (e.g. empty-segment)",
    ),
    "a segment filed under another user": (
        [f"UPDATE segments SET owner = {BO}, user_id = 'bo' WHERE id = {FIRST_SEGMENT}"],
        "hierarchy turns in a segment of another owner",
    ),
    "a short-term turn that lost its vector": (
        [f"UPDATE tier_turns SET vector = NULL WHERE seq = {SHORT_TURN}"],
        "1 hierarchy short-term turns without a vector",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
async def test_damage_to_the_hierarchy_is_named(tmp_path: Path, embedder: USEEmbedder, case: str) -> None:
    settings = await build(tmp_path, embedder)
    statements, named = DAMAGE[case]
    damage(settings.storage.path, *statements)
    report = await check_store(settings, embedder=embedder)
    found = [p for p in report.problems if p.role == "segments"]
    assert [p.message for p in found if named in p.message] != [], report.problems
    assert len(found) == 1, found  # named once, and nothing else in the hierarchy is blamed
    assert "memory hierarchy" in found[0].fix


def test_the_cli_names_it_and_exits_1(tmp_path: Path, embedder: USEEmbedder, cli: Callable[..., Result]) -> None:
    settings = asyncio.run(build(tmp_path, embedder))
    assert cli(settings.storage.path, "check").exit_code == 0
    damage(settings.storage.path, f"UPDATE segments SET turns = turns + 1 WHERE id = {FIRST_SEGMENT}")
    result = cli(settings.storage.path, "check", "--json")
    assert result.exit_code == 1, result.stdout
    [problem] = json.loads(result.stdout)["problems"]
    assert problem["role"] == "segments" and "turn count disagrees" in problem["message"]
