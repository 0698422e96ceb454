"""The hierarchy follows a session's index when a turn is edited or deleted.

A turn is indexed with the turn before it (its vector mixes in its predecessor's), so an edit or
a delete re-indexes the next turn too (:mod:`memoryd.ingest.relink`). Its short-term vector and
the centroid of the segment it is in must follow: a short-term turn keeps the vector the index
holds, a segment's centroid stays the mean of its turns' unit vectors as the index holds them.
Run with the vectors in the SQLite file (a segment is recounted from them) and in Qdrant's local
mode (the segment store never sees them: its centroid is adjusted with the old and new vectors).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memoryd import AsyncMemory, Settings, load_settings
from tests.hierarchy.conftest import chat

Make = Callable[..., Any]

TURNS = [
    ("user", "I want to plan a trip to Japan in April."),
    ("assistant", "April is cherry blossom season, a lovely time to go."),
    ("user", "My sister Carla will come with me."),
    ("assistant", "Travelling with family is fun. Where will you start?"),
    ("user", "We land in Osaka and take the train to Kyoto."),
    ("assistant", "The Shinkansen gets you there in fifteen minutes."),
]


def _settings(tmp_path: Path, vectors: str) -> Settings:
    storage: dict[str, Any] = {"path": str(tmp_path / "relink.db"), "synchronous": "NORMAL"}
    if vectors == "qdrant":
        storage |= {"vectors": "qdrant", "qdrant": {"path": str(tmp_path / "qd")}}
    # two turns stay short-term; every older turn joins a segment of at most two turns
    tiers = {"short_term_turns": 2, "segment_similarity": -1.0, "segment_max_turns": 2}
    return load_settings(env={}, overrides={"storage": storage, "tiers": tiers})


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


async def _assert_consistent(mem: AsyncMemory) -> tuple[int, int]:
    """Every short-term turn's vector is its vector in the index, and every segment's centroid the
    mean of its turns' unit vectors there. Returns (short-term turns, segments) checked."""
    with sqlite3.connect(mem.settings.storage.path) as conn:
        turns = conn.execute("SELECT memory_id, segment_id, vector FROM tier_turns").fetchall()
        segments = conn.execute("SELECT id, centroid FROM segments").fetchall()
    indexed = await mem.storage.vectors.vectors([t[0] for t in turns])
    short = [(mid, vec) for mid, sid, vec in turns if sid is None]
    for mid, vec in short:
        stored = np.frombuffer(vec, dtype=np.float32)
        assert np.allclose(stored, indexed[mid], atol=1e-5), f"short-term turn {mid} keeps an old vector"
    for sid, centroid in segments:
        members = [mid for mid, seg, _ in turns if seg == sid]
        expected = np.mean([_unit(indexed[mid]) for mid in members], axis=0)
        got = np.frombuffer(centroid, dtype=np.float32)
        assert np.allclose(got, expected, atol=1e-5), f"segment {sid} keeps an old vector in its centroid"
    return len(short), len(segments)


@pytest.fixture(params=["sqlite", "qdrant"])
def vectors(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_an_edit_reaches_the_next_turns_short_term_vector_and_segment_centroid(
    make_memory: Make, tmp_path: Path, vectors: str
) -> None:
    async with make_memory(_settings(tmp_path, vectors)) as mem:
        ids = await chat(mem, TURNS, run_id="trip")
        assert await _assert_consistent(mem) == (2, 2)  # [0, 1] [2, 3] in segments, 4 and 5 short-term
        await mem.update(ids[1], "Kyoto is best seen early in the morning.")  # 2 relinked: next segment
        await _assert_consistent(mem)
        await mem.update(ids[3], "Then we fly home from Tokyo.")  # 4 relinked: short-term
        await _assert_consistent(mem)
        await mem.update(ids[4], "We land in Tokyo instead.")  # short-term itself, and 5 relinked
        assert await _assert_consistent(mem) == (2, 2)


async def test_a_delete_reaches_the_next_turns_short_term_vector_and_segment_centroid(
    make_memory: Make, tmp_path: Path, vectors: str
) -> None:
    async with make_memory(_settings(tmp_path, vectors)) as mem:
        ids = await chat(mem, TURNS, run_id="trip")
        await mem.delete(ids[1])  # leaves its segment; 2 (the next segment) is relinked with 0
        assert await _assert_consistent(mem) == (2, 2)
        await mem.delete(ids[4])  # short-term; 5 is relinked with 3
        assert await _assert_consistent(mem) == (1, 2)
        await mem.delete(ids[3])  # the last turn of a segment; 5 (short-term) is relinked with 2
        assert await _assert_consistent(mem) == (1, 2)


async def test_a_delete_all_of_one_session_leaves_the_segments_it_shared_as_their_turns_are(
    make_memory: Make, tmp_path: Path, vectors: str
) -> None:
    async with make_memory(_settings(tmp_path, vectors)) as mem:
        for i, turn in enumerate(TURNS):  # two sessions' turns, alternating: they share segments
            await chat(mem, [turn], run_id="ab"[i % 2])
        # each session keeps two turns short-term; the first of each share a segment
        assert await _assert_consistent(mem) == (4, 1)
        assert await mem.delete_all(user_id="ana", run_id="a") == 3
        assert await _assert_consistent(mem) == (2, 1)  # its centroid: the turn it kept, alone
        assert {m.run_id for m in (await mem.get_all(user_id="ana")).items} == {"b"}
