"""A segment's keywords: a bounded pool of word counts that keeps following what its turns say."""

from __future__ import annotations

from memoryd.hierarchy.keywords import label, merge_counts

PACKING = (
    "tent stove lantern compass blanket pillow backpack boots jacket gloves scarf helmet rope knife "
    "matches kettle thermos hammock binoculars flashlight umbrella sunscreen sandals towel"
).split()


def test_a_word_later_turns_keep_using_climbs_into_the_keywords() -> None:
    counts = merge_counts((), PACKING)  # more distinct words than a segment shows
    for _ in range(5):
        counts = merge_counts(counts, ["kayak", "paddled"])
    assert counts[:2] == (("kayak", 5), ("paddled", 5)) and label(counts).startswith("kayak, paddled")
    assert ("tent", 1) in counts  # the earlier words are still counted


def test_the_pool_stays_bounded_and_still_takes_new_words() -> None:
    from memoryd.hierarchy.keywords import POOL

    counts: tuple[tuple[str, int], ...] = ()
    for turn in range(400):  # thousands of distinct words, one topic word every other turn
        counts = merge_counts(counts, [f"w{turn}x{i}" for i in range(10)] + (["kayak"] if turn % 2 else []))
        assert len(counts) <= POOL
    assert counts[0][0] == "kayak"
    late = merge_counts(counts, ["canoe"])  # a word first seen once the pool is full
    assert "canoe" in dict(late) and len(late) <= POOL
    assert merge_counts(merge_counts((), ["a1", "b2"]), ["b2", "c3"]) == (("b2", 2), ("a1", 1), ("c3", 1))


def _reference(counts: tuple[tuple[str, int], ...], new: list[str], keep: int) -> tuple[tuple[str, int], ...]:
    """The space-saving counter as documented, written plainly: a list in rank order, a word
    that finds the pool full replaces the least frequent (the earliest ranked of those)."""
    pool = [[w, c] for w, c in counts]
    for word in new:
        hit = next((item for item in pool if item[0] == word), None)
        if hit is not None:
            hit[1] += 1
            continue
        n = 0
        if len(pool) >= keep:
            low = min(c for _, c in pool)
            gone = next(item for item in pool if item[1] == low)
            pool.remove(gone)
            n = low
        pool.append([word, n + 1])
    ranked = sorted(enumerate(pool), key=lambda ic: (-ic[1][1], ic[0]))
    return tuple((w, c) for _, (w, c) in ranked[:keep])


def test_merging_matches_the_plain_counter_on_random_turns() -> None:
    import random

    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(60)]
    for keep in (1, 3, 8, 24):
        ours = ref = ()
        for _ in range(300):
            turn = [rng.choice(vocab[: rng.choice((10, 60))]) for _ in range(rng.randint(0, 12))]
            ours, ref = merge_counts(ours, turn, keep), _reference(ref, turn, keep)
            assert ours == ref


def test_latin_words_written_against_chinese_are_keywords() -> None:
    from memoryd.hierarchy.keywords import words

    found = words("我在Google工作，用Python写Kubernetes脚本")
    assert {"google", "python", "kubernetes"} <= set(found) and "工作" in found


def test_chinese_keywords_are_words_not_the_index_pieces_of_longer_words() -> None:
    from memoryd.hierarchy.keywords import words

    # The keyword index also keeps "王小" and "小明"; a label reads the name.
    assert words("我的朋友王小明住在北京") == ("朋友", "王小明", "北京")
