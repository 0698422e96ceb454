"""Equal scores in the in-memory partitions rank by memory id: whatever slot a memory has (an
edit gives a BM25 slot anew, a reload lays slots in rowid order), and whatever ``limit`` is."""

from __future__ import annotations

import random

import numpy as np

from memoryd.models import Scope
from memoryd.storage.sqlite.bm25 import BM25Partition
from memoryd.storage.sqlite.rows import Rows, RowStub
from memoryd.storage.sqlite.vectors import VectorPartition

SCOPE = Scope(user_id="u")


def _stub(memory_id: str) -> RowStub:
    return RowStub(memory_id, "u", None, None, None)


def test_bm25_ties_rank_alike_after_an_edit_and_after_a_reload() -> None:
    live = BM25Partition()
    for mid in ["m3", "m1", "m2"]:
        live.put(_stub(mid), ["beach", "day"])  # type: ignore[arg-type]
    live.put(_stub("m1"), ["beach", "night"])  # an edit: a fresh slot at the end, same score
    reloaded = BM25Partition()
    for mid, terms in [("m1", ["beach", "night"]), ("m2", ["beach", "day"]), ("m3", ["beach", "day"])]:
        reloaded.put(_stub(mid), terms)  # type: ignore[arg-type]
    for part in (live, reloaded):
        assert [mid for mid, _ in part.search(["beach"], SCOPE, 10, None)] == ["m1", "m2", "m3"]
        assert [mid for mid, _ in part.search(["beach"], SCOPE, 2, None)] == ["m1", "m2"]


def test_equal_cosines_rank_by_id_whatever_the_slots() -> None:
    rng = np.random.default_rng(0)
    same = rng.standard_normal(8).astype(np.float32)
    same /= np.linalg.norm(same)
    ids = [f"m{i}" for i in range(6)]
    orders = [ids, ids[::-1], ["m4", "m0", "m5", "m2", "m1", "m3"]]
    for order in orders:
        part = VectorPartition(8, exact_max=1000)
        for mid in order:
            part.put(_stub(mid), same)  # type: ignore[arg-type]
        assert [mid for mid, _ in part.search(same, SCOPE, 3, None)] == ["m0", "m1", "m2"]
        assert [mid for mid, _ in part.search(same, SCOPE, 6, None)] == ids


def test_top_of_a_short_limit_is_the_head_of_a_long_one() -> None:
    rng = random.Random(1)
    for _ in range(500):
        n = rng.randint(1, 80)
        rows = Rows()
        for i in rng.sample(range(1000), n):
            rows.new_slot(_stub(f"{i:04}"))  # type: ignore[arg-type]
        scores = np.array([rng.choice([0.25, 0.5, 0.75, rng.random()]) for _ in range(n)], dtype=np.float32)
        keep = np.array([rng.random() < 0.8 for _ in range(n)])
        expected = sorted(
            ((rows.ids[i], float(scores[i])) for i in range(n) if keep[i]), key=lambda hit: (-hit[1], hit[0])
        )
        for limit in (1, 3, 10, n):
            assert rows.top(scores, keep, limit) == expected[:limit]
