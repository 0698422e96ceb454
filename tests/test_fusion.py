"""Score fusion: normalised per retriever, weighted, best first."""

from __future__ import annotations

from memoryd.retrieval.fusion import fuse_scores

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
