"""The memory hierarchy survives export → import: short-term turns, mid-term and evicted segments,
heat and promotion marks, for the whole store, one user, or into a store with another embedder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memoryd import AsyncMemory, ConflictError, InvalidInputError, NotFoundError, Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.hierarchy.models import EVICTED, MID
from memoryd.models import Scope
from memoryd.portability import export_store, import_store
from memoryd.storage import SegmentStore
from tests.faults.embedders import HalfEmbedder
from tests.hierarchy.conftest import TOPICS, Clock, chat
from tests.portability.conftest import lines

TIERS: dict[str, Any] = {
    "short_term_turns": 2,
    "short_term_sessions": 2,
    "mid_term_segments": 2,
    "promote_heat": 2.4,
}


def _settings(path: Path, **sections: Any) -> Settings:
    """A store at ``path`` with small tiers (tests/hierarchy's), and these other sections."""
    storage = {"path": str(path / "tiers.db"), "synchronous": "NORMAL"}
    return load_settings(env={}, overrides={"storage": storage, "tiers": TIERS, **sections})


async def _fill(tmp_path: Path, embedder: USEEmbedder, clock: Clock) -> Settings:
    """Two users over several sessions, half a day apart: short-term turns, mid-term and evicted
    segments, a promoted one, and retrievals counted in memory but not written yet."""
    settings = _settings(tmp_path / "source")
    async with AsyncMemory(settings, embedder=embedder, clock=clock) as mem:
        for topic, run_id in (("hiking", "s1"), ("cat", "s2"), ("work", "s3")):
            await chat(mem, TOPICS[topic], run_id=run_id)
            clock.advance(hours=12)
        await chat(mem, TOPICS["cooking"][:3], run_id="s1")
        await chat(mem, TOPICS["cat"][:2], user_id="ben", run_id="b1")
        await chat(mem, TOPICS["work"][:3], user_id="ben", run_id="b2")
        await mem.search("Miso the cat", user_id="ana")  # heat the export must write first
        await mem.search("data pipelines", user_id="ben")
    return settings


def _docs(path: Path, kind: str) -> list[dict[str, Any]]:
    return [d for d in map(json.loads, lines(path)) if d["type"] == kind]


def _store(mem: AsyncMemory) -> SegmentStore:
    assert mem.storage.segments is not None
    return mem.storage.segments


async def _next_turn(mem: AsyncMemory) -> tuple[dict[str, Any], str]:
    """A new turn of a running session: the tier sizes after it, and where it went."""
    [new] = await chat(mem, [("user", "The risotto needs more parmesan.")], run_id="s1")
    tree = await mem.tree("ana", episodes=50)
    where = {e["id"]: s["label"] for t in tree["topics"] for s in t["segments"] for e in s["episodes"]}
    where |= {e["id"]: "short" for session in tree["short_term"] for e in session["episodes"]}
    return tree["counts"], where[new]


def _segment_nodes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted((s for topic in tree["topics"] for s in topic["segments"]), key=lambda s: s["id"])


async def _trees(mem: AsyncMemory) -> dict[str, dict[str, Any]]:
    trees = {}
    for user in ("ana", "ben"):
        try:
            trees[user] = await mem.tree(user, episodes=50)
        except NotFoundError:  # nothing of this user stored
            continue
        trees[user].pop("generated_at")
    return trees


async def test_round_trip_keeps_the_hierarchy(tmp_path: Path, embedder: USEEmbedder) -> None:
    clock = Clock()
    source = await _fill(tmp_path, embedder, clock)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    async with AsyncMemory(source, embedder=embedder, clock=clock) as mem:
        exported = await export_store(mem, first)
        before = await _trees(mem)
    counts = before["ana"]["counts"]
    assert counts["short_term_turns"] and counts["mid_term_turns"] and counts["evicted_turns"]
    assert counts["promoted_segments"] == 1 and counts["untracked"] == 0
    assert exported.counts["tier_turn"] == 20 and exported.counts["tier_segment"] == 6
    segments = _docs(first, "tier_segment")
    assert {s["tier"] for s in segments} == {MID, EVICTED} and all("centroid" in s["index"] for s in segments)
    # the searches' heat was still in memory when the export began; it went out with the segments
    tree_retrievals = sum(
        s["retrievals"] for u in before.values() for t in u["topics"] for s in t["segments"]
    )
    assert sum(s["retrievals"] for s in segments) == tree_retrievals > 0
    turns = _docs(first, "tier_turn")
    assert {"index" in t for t in turns if t["segment_id"] is None} == {True}
    assert not any("index" in t for t in turns if t["segment_id"] is not None)

    async with AsyncMemory(_settings(tmp_path / "copy"), embedder=embedder, clock=clock) as mem:
        imported = await import_store(mem, first, batch_size=4)
        assert imported.counts == exported.counts and imported.reused_vectors
        assert await _trees(mem) == before
        await export_store(mem, second)
        copy_goes_on = await _next_turn(mem)
    assert lines(second) == lines(first)
    async with AsyncMemory(source, embedder=embedder, clock=clock) as mem:
        assert await _next_turn(mem) == copy_goes_on  # the copy plans the next write like the original


async def test_another_embedder_gets_centroids_of_its_own(
    tmp_path: Path, embedder: USEEmbedder, half: type[HalfEmbedder]
) -> None:
    clock = Clock()
    source = await _fill(tmp_path, embedder, clock)
    out = tmp_path / "use.jsonl"
    async with AsyncMemory(source, embedder=embedder, clock=clock) as mem:
        await export_store(mem, out)
        before = await _trees(mem)
    target = _settings(tmp_path / "half", embedder={"provider": "half"})
    async with AsyncMemory(target, clock=clock) as mem:
        done = await import_store(mem, out)
        assert not done.reused_vectors
        store = _store(mem)
        segments, _ = await store.scan_segments(Scope())
        turns, _ = await store.scan_turns(Scope())
        assert len(segments) == 6 and {s.centroid.shape for s in segments} == {(256,)}
        assert all(np.isfinite(s.centroid).all() and np.linalg.norm(s.centroid) > 0 for s in segments)
        short = [t for t in turns if t.segment_id is None]
        assert short and {t.vector.shape for t in short if t.vector is not None} == {(256,)}
        assert len([t for t in short if t.vector is not None]) == len(short)
        # each centroid is the mean of its turns' new vectors
        [hot] = [s for s in segments if s.promoted_at is not None]
        members = await mem.storage.vectors.vectors([t.memory_id for t in turns if t.segment_id == hot.id])
        assert np.allclose(hot.centroid, np.mean(list(members.values()), axis=0), atol=1e-6)
        after = await _trees(mem)
        # a new turn is compared with centroids of the same model
        await chat(mem, TOPICS["hiking"][:3], run_id="s4")
    for user in ("ana", "ben"):  # topics group segments by centroid, now the new model's; the rest is kept
        old, new = before[user], after[user]
        assert new["short_term"] == old["short_term"] and new["long_term"] == old["long_term"]
        assert {**new["counts"], "topics": 0} == {**old["counts"], "topics": 0}
        assert _segment_nodes(new) == _segment_nodes(old)


async def test_without_vectors_centroids_are_recomputed(tmp_path: Path, embedder: USEEmbedder) -> None:
    clock = Clock()
    source = await _fill(tmp_path, embedder, clock)
    out = tmp_path / "bare.jsonl"
    async with AsyncMemory(source, embedder=embedder, clock=clock) as mem:
        await export_store(mem, out, vectors=False)
        original, _ = await _store(mem).scan_segments(Scope())
        before = await _trees(mem)
    assert not any("index" in json.loads(line) for line in lines(out))
    async with AsyncMemory(_settings(tmp_path / "copy"), embedder=embedder, clock=clock) as mem:
        await import_store(mem, out)
        copied, _ = await _store(mem).scan_segments(Scope())
        assert await _trees(mem) == before
    assert [s.id for s in copied] == [s.id for s in original]
    for old, new in zip(original, copied, strict=True):  # the same model embedded the same texts again
        cosine = float(np.dot(old.direction(), new.direction()))
        assert cosine > 0.9999 and np.isclose(np.linalg.norm(old.centroid), np.linalg.norm(new.centroid)), (
            old.id
        )


async def test_one_user_carries_only_that_users_hierarchy(tmp_path: Path, embedder: USEEmbedder) -> None:
    clock = Clock()
    source = await _fill(tmp_path, embedder, clock)
    out = tmp_path / "ben.jsonl"
    async with AsyncMemory(source, embedder=embedder, clock=clock) as mem:
        summary = await export_store(mem, out, user_id="ben")
        ben = (await _trees(mem))["ben"]
        ben_turns, _ = await _store(mem).scan_turns(Scope("ben"))
    rows = _docs(out, "tier_segment") + _docs(out, "tier_turn")
    assert rows and {tuple(d["owner"]) for d in rows} == {("ben", None, None)}
    assert summary.counts["tier_turn"] == len(ben_turns) == 5 and summary.counts["tier_segment"] == 1
    async with AsyncMemory(_settings(tmp_path / "copy"), embedder=embedder, clock=clock) as mem:
        await import_store(mem, out)
        trees = await _trees(mem)
        assert trees == {"ben": ben}  # ana's tree is a 404: nothing of hers came in
        assert (await _store(mem).scan_turns(Scope("ana")))[0] == []


async def test_older_files_broken_lines_and_clashes(tmp_path: Path, embedder: USEEmbedder) -> None:
    clock = Clock()
    source = await _fill(tmp_path, embedder, clock)
    out = tmp_path / "all.jsonl"
    async with AsyncMemory(source, embedder=embedder, clock=clock) as mem:
        await export_store(mem, out)
        turns, _ = await _store(mem).scan_turns(Scope("ben"), limit=1)
    text = out.read_text().splitlines()

    # A file from before the hierarchy was exported: no tier lines, no tier counts in the end line.
    end = json.loads(text[-1])
    old_end = {"type": "end", "counts": {k: v for k, v in end["counts"].items() if not k.startswith("tier_")}}
    old = tmp_path / "old.jsonl"
    old.write_text(
        "\n".join([*(t for t in text[:-1] if '"type":"tier_' not in t), json.dumps(old_end)]) + "\n"
    )
    async with AsyncMemory(_settings(tmp_path / "old"), embedder=embedder, clock=clock) as mem:
        done = await import_store(mem, old)
        assert done.counts["tier_turn"] == done.counts["tier_segment"] == 0
        assert (await mem.tree("ana"))["counts"]["untracked"] == 15

    at = next(i for i, t in enumerate(text) if '"type":"tier_turn"' in t)
    broken = {
        "level": (text[at].replace('"level":1', '"level":-1'), "'level' must be a whole number"),
        "tier": (text[at - 1].replace('"tier":"', '"tier":"x'), "'tier' must be 'mid' or 'evicted'"),
        "time": (text[at].replace('"at":"2025', '"at":"when'), "'at' is not an ISO 8601 time"),
        "vector": (text[at - 1].replace('"centroid":"', '"centroid":"!'), "'index.centroid' is not base64"),
    }
    target = _settings(tmp_path / "target")
    async with AsyncMemory(target, embedder=embedder, clock=clock) as mem:
        for name, (line, message) in broken.items():
            bad = tmp_path / f"{name}.jsonl"
            index = at if '"tier_turn"' in line else at - 1
            bad.write_text("\n".join([*text[:index], line, *text[index + 1 :]]) + "\n")
            with pytest.raises(InvalidInputError, match=f"line {index + 1}: {message}"):
                await import_store(mem, bad)
        # a turn the target's hierarchy already holds is a clash: refused before anything is written
        await _store(mem).restore(turns, [])
        with pytest.raises(ConflictError, match="memory hierarchy already holds"):
            await import_store(mem, out)
        assert (await mem.storage.records.stats())["memories"] == 0
        assert [t.memory_id for t in (await _store(mem).scan_turns(Scope()))[0]] == [turns[0].memory_id]
