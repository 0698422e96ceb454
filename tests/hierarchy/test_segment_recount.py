"""A segment follows the turns it holds: a deleted or rewritten turn's words leave its keywords,
label and centroid, and a delete racing a write leaves no stale count or segment behind."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import numpy as np

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.models import content_hash, utcnow
from memoryd.storage import ChangeSet, StoredMemory
from tests.hierarchy.conftest import chat

Make = Callable[..., Any]
SECRET = "zebracode"


def _segments(mem: AsyncMemory) -> list[tuple[str, int, int, str, str, bytes]]:
    """Every segment row: id, turns column, turns it really holds, label, keywords, centroid."""
    with sqlite3.connect(mem.settings.storage.path) as conn:
        return conn.execute(
            "SELECT id, turns, (SELECT count(*) FROM tier_turns t WHERE t.segment_id = s.id), label, keywords, "
            "centroid FROM segments s ORDER BY rowid"
        ).fetchall()


def _vector(mem: AsyncMemory, memory_id: str) -> np.ndarray:
    with sqlite3.connect(mem.settings.storage.path) as conn:
        (blob,) = conn.execute("SELECT vec FROM vectors WHERE memory_id = ?", (memory_id,)).fetchone()
    return np.frombuffer(blob, dtype=np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _mentions(mem: AsyncMemory, word: str) -> list[str]:
    """The hierarchy's tables holding ``word`` in a row."""
    found = []
    with sqlite3.connect(mem.settings.storage.path) as conn:
        for table in ("segments", "tier_turns"):
            for row in conn.execute(f"SELECT * FROM {table}"):
                if any(isinstance(c, str) and word in c for c in row):
                    found.append(table)
    return found


async def test_a_deleted_turn_leaves_its_segments_keywords_label_and_centroid(make_memory: Make) -> None:
    async with make_memory(short_term_turns=1, segment_similarity=-1.0) as mem:
        secret, tomatoes, _ = await chat(
            mem,
            [
                ("user", f"My bank password is {SECRET} quasarflux"),
                ("user", "Let's talk about gardening tomatoes"),
                ("user", "Tomatoes need sunshine"),
            ],
            run_id="s",
        )
        [(_, turns, held, label, _, _)] = _segments(mem)
        assert turns == held == 2 and SECRET in label
        await mem.delete(secret)
        [(_, turns, held, label, keywords, centroid)] = _segments(mem)
        assert turns == held == 1
        assert (
            label == "talk, gardening, tomatoes" and SECRET not in keywords and "quasarflux" not in keywords
        )
        left = np.frombuffer(centroid, dtype=np.float32)
        assert np.allclose(left, _unit(_vector(mem, tomatoes)), atol=1e-5)  # the secret's vector is out
        [segment] = [s for t in (await mem.tree("ana"))["topics"] for s in t["segments"]]
        assert segment["label"] == label and SECRET not in segment["keywords"] and segment["turns"] == 1
        assert _mentions(mem, SECRET) == []


async def test_a_rewritten_turn_takes_its_new_words_into_its_segment(
    make_memory: Make, embedder: USEEmbedder
) -> None:
    """What :meth:`AsyncMemory.update` commits through :meth:`Tiers.revise` when a turn's text changes."""

    async def rewrite(memory_id: str, text: str) -> None:
        old = await mem.get(memory_id)
        new = old.with_changes(text=text, hash=content_hash(text), updated_at=utcnow())
        vector = embedder.embed([mem.represent.line(new)])[0]
        changes = ChangeSet(upserts=[StoredMemory(new, vector, mem.represent.terms(new))])
        await mem.tiers.revise(changes, new, reindexed=changes.upserts)

    async with make_memory(short_term_turns=1, segment_similarity=-1.0) as mem:
        await chat(mem, [("user", "Let's talk about gardening tomatoes")], run_id="s")
        [passport] = await chat(mem, [("user", f"My passport number is {SECRET}")], run_id="s")
        await rewrite(passport, "My passport number is [redacted]")  # still short-term
        assert _mentions(mem, SECRET) == []
        await chat(mem, [("user", "More tomatoes please")], run_id="s")  # it moves into the segment
        [(_, _, held, _, keywords, _)] = _segments(mem)
        assert held == 2 and "redacted" in keywords and SECRET not in keywords

        await rewrite(passport, "My passport is in the drawer")  # in the segment now
        [(_, turns, held, _, keywords, centroid)] = _segments(mem)
        assert turns == held == 2 and "drawer" in keywords and "redacted" not in keywords
        [first] = [m for m in (await mem.get_all(user_id="ana")).items if "gardening" in m.text]
        expected = (_unit(_vector(mem, first.id)) + _unit(_vector(mem, passport))) / 2
        assert np.allclose(np.frombuffer(centroid, dtype=np.float32), expected, atol=1e-5)


def _delete_before_the_next_move(mem: AsyncMemory, victim: str) -> list[bool]:
    """Make ``victim``'s delete commit between the next write's tier plan and its commit, as another
    process on the same file would (in one process, the owner's write lock keeps them apart)."""
    commit, fired = mem.storage.commit, []

    async def racing(changes: ChangeSet) -> Any:
        if changes.tiers is not None and changes.tiers.moved and not fired:
            fired.append(True)
            async with AsyncMemory(mem.settings, embedder=mem.embedder) as other:
                await other.delete(victim)
        return await commit(changes)

    mem.storage.commit = racing  # type: ignore[method-assign]
    return fired


async def test_a_delete_racing_a_write_leaves_the_segment_counted_from_its_turns(make_memory: Make) -> None:
    async with make_memory(short_term_turns=1, segment_similarity=-1.0) as mem:
        first, *_ = await chat(
            mem,
            [
                ("user", f"First turn about {SECRET}"),
                ("user", "Hiking in the hills"),
                ("user", "Hiking again"),
            ],
            run_id="s",
        )
        fired = _delete_before_the_next_move(mem, first)
        await chat(mem, [("user", "Hiking once more")], run_id="s")  # plans from 2 turns, moves a third
        assert fired
        [(_, turns, held, label, keywords, _)] = _segments(mem)
        assert turns == held == 2, (turns, held)
        assert SECRET not in keywords and SECRET not in label
        assert (await mem.users())[0]["tiers"]["mid_term_turns"] == 2


async def test_a_segment_a_racing_delete_emptied_is_not_written_back(make_memory: Make) -> None:
    # Every turn starts a segment and only one stays mid-term: the next write evicts the old one.
    async with make_memory(short_term_turns=1, segment_similarity=1.0, mid_term_segments=1) as mem:
        first, _ = await chat(
            mem, [("user", f"A turn about {SECRET}"), ("user", "Hiking in the hills")], run_id="s"
        )
        [(old, *_)] = _segments(mem)
        fired = _delete_before_the_next_move(mem, first)  # empties the old segment meanwhile
        await chat(mem, [("user", "Cooking a mushroom risotto")], run_id="s")
        assert fired
        rows = _segments(mem)
        assert old not in [r[0] for r in rows]
        assert [(turns, held) for _, turns, held, *_ in rows] == [(1, 1)]
        assert _mentions(mem, SECRET) == []


async def test_update_takes_a_turns_new_words_into_its_segment(make_memory: Make) -> None:
    async with make_memory(short_term_turns=1, segment_similarity=-1.0) as mem:
        await chat(mem, [("user", "Let's talk about gardening tomatoes")], run_id="s")
        [passport] = await chat(mem, [("user", f"My passport number is {SECRET}")], run_id="s")
        await mem.update(passport, "My passport number is [redacted]")
        await chat(mem, [("user", "More tomatoes please")], run_id="s")
        [(_, _, held, _, keywords, _)] = _segments(mem)
        assert held == 2 and "redacted" in keywords and _mentions(mem, SECRET) == []
