"""The projection's shortlist: the k largest rough scores, found through a sampled threshold, are
exactly those a full partition finds, whatever the scores' order or how many are masked out."""

from __future__ import annotations

import numpy as np
import pytest

from memoryd.storage.sqlite.vectors import largest


def _scores(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    values = rng.random(n, dtype=np.float32)
    if kind == "ascending":  # scores that grow with the slot: a strided sample sees only part
        values.sort()
    elif kind == "descending":
        values[::-1].sort()
    elif kind == "masked":  # a scope holding a tenth of the partition; the rest -inf
        values[rng.random(n) < 0.9] = -np.inf
    elif kind == "clustered":  # a few high scores in one run of slots
        values *= 0.1
        values[5000:5600] += 0.9
    return values


@pytest.mark.parametrize("kind", ["random", "ascending", "descending", "masked", "clustered"])
@pytest.mark.parametrize("k", [1, 500, 1000, 20_000])
def test_the_k_largest_are_those_a_full_partition_finds(kind: str, k: int) -> None:
    rng = np.random.default_rng(7)
    for n in (k, 3 * k, 100_000):
        if n < k:
            continue
        values = _scores(kind, n, rng)
        got = largest(values, k)
        assert got.size == k and np.unique(got).size == k
        want = np.sort(values)[n - k :]
        assert np.array_equal(np.sort(values[got]), want)
