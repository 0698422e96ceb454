"""Score fusion: normalised per retriever, weighted, best first."""

from __future__ import annotations

import random

from memoryd.retrieval.fusion import fuse, fuse_scores, score_bounds

W = {"dense": 0.7, "keyword": 1.0}


def test_weighted_min_max_sum() -> None:
    fused = fuse_scores(
        {"dense": [("a", 0.9), ("b", 0.5), ("c", 0.1)], "keyword": [("b", 8.0), ("c", 2.0)]},
        W,
        {"keyword": 0.0},
    )
    scores = {c.id: round(c.fused, 4) for c in fused}
    # a: dense 1.0; b: dense 0.5, keyword 1.0; c: dense 0.0, keyword 0.25
    assert scores == {"a": round(0.7 / 1.7, 4), "b": round((0.35 + 1.0) / 1.7, 4), "c": round(0.25 / 1.7, 4)}
    assert [c.id for c in fused] == ["b", "a", "c"]
    assert fused[0].ranks == {"dense": 2, "keyword": 1}


def test_a_lone_candidate_is_the_best_not_the_worst() -> None:
    [only] = fuse_scores({"dense": [("a", 0.42)]}, W)
    assert only.fused == 1.0
    [alone] = fuse_scores({"dense": [("a", 0.42)], "keyword": []}, W)  # no word matched
    assert alone.fused == 0.7 / 1.7


def _lists(rng: random.Random, n: int, pool: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """A search's inputs over ``n`` memories: the dense ranking (then the cosines of the keyword
    candidates it lacks, as the vector index appends them) and the BM25 ranking, ``pool`` each."""
    cos = {f"m{i:03}": rng.uniform(-0.1, 0.9) for i in range(n)}
    bm25 = {m: rng.uniform(0.1, 9.0) for m in rng.sample(sorted(cos), n // 2)}
    dense = sorted(cos.items(), key=lambda p: (-p[1], p[0]))[:pool]
    keyword = sorted(bm25.items(), key=lambda p: (-p[1], p[0]))[:pool]
    taken = {m for m, _ in dense}
    dense += sorted(((m, cos[m]) for m, _ in keyword if m not in taken), key=lambda p: (-p[1], p[0]))
    return dense, keyword


def test_bounds_from_the_head_give_the_default_search_the_very_same_scores() -> None:
    """With no more than ``candidates`` asked for, fixed bounds are the lists' own min and max:
    every fused score is the same float as before bounds existed (the tuned behaviour)."""
    rng = random.Random(3)
    for _ in range(200):
        dense, keyword = _lists(rng, rng.randint(1, 300), 100)
        ranked = {"dense": dense, "keyword": keyword}
        old = fuse_scores(ranked, W, {"keyword": 0.0}, limit=15)
        new = fuse_scores(ranked, W, bounds=score_bounds(dense, keyword, dict(dense), 100), limit=15)
        assert [(c.id, c.fused, c.ranks) for c in new] == [(c.id, c.fused, c.ranks) for c in old]


def test_a_longer_list_scores_no_memory_differently() -> None:
    rng = random.Random(5)
    for _ in range(100):
        seed = rng.random()
        dense, keyword = _lists(random.Random(seed), 400, 30)
        dense_long, keyword_long = _lists(random.Random(seed), 400, 150)
        short = fuse_scores(
            {"dense": dense, "keyword": keyword}, W, bounds=score_bounds(dense, keyword, dict(dense), 30)
        )
        long = fuse_scores(
            {"dense": dense_long, "keyword": keyword_long[:30]},
            W,
            bounds=score_bounds(dense_long, keyword_long, dict(dense_long), 30),
        )
        assert [(c.id, c.fused) for c in long[:10]] == [(c.id, c.fused) for c in short[:10]]
        fused = {c.id: c.fused for c in long}
        assert all(fused[c.id] == c.fused for c in short)
        rank_short = fuse({"dense": dense[:30], "keyword": keyword}, W, head=30)
        rank_long = fuse({"dense": dense_long[:150], "keyword": keyword_long}, W, head=30)
        assert [(c.id, c.fused) for c in rank_long[:10]] == [(c.id, c.fused) for c in rank_short[:10]]


def test_admit_removes_candidates_and_changes_no_score() -> None:
    rng = random.Random(9)
    dense, keyword = _lists(rng, 200, 50)
    cos = dict(dense)
    ranked = {"dense": dense, "keyword": keyword}
    bounds = score_bounds(dense, keyword, cos, 50)
    every = fuse_scores(ranked, W, bounds=bounds)
    kept = fuse_scores(ranked, W, bounds=bounds, admit=lambda mid: cos[mid] >= 0.5, limit=20)
    assert [(c.id, c.fused) for c in kept] == [(c.id, c.fused) for c in every if cos[c.id] >= 0.5][:20]


def test_rank_fusion_counts_only_the_first_head_ranks() -> None:
    ranked = {"dense": [("a", 0.9), ("b", 0.8), ("c", 0.7)], "keyword": [("c", 5.0), ("a", 1.0)]}
    fused = {c.id: c.fused for c in fuse(ranked, W, k=60.0, head=1)}
    best = 1.7 / 61
    assert fused == {"a": 0.7 / 61 / best, "c": 1.0 / 61 / best, "b": 0.0}


def test_score_bounds_come_from_the_heads_alone() -> None:
    dense = [("a", 0.9), ("b", 0.5), ("c", 0.2), ("x", -0.3)]  # x: a keyword candidate's cosine
    keyword = [("b", 4.0), ("x", 2.0), ("c", 1.0)]
    cos = dict(dense)
    assert score_bounds(dense, keyword, cos, 2) == {"dense": (-0.3, 0.9), "keyword": (0.0, 4.0)}
    assert score_bounds(dense, keyword[:1], cos, 2) == {"dense": (0.5, 0.9), "keyword": (0.0, 4.0)}
    assert score_bounds([], [], {}, 5) == {}
