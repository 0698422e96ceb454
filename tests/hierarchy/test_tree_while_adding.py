"""The tree of a large user read while the user's adds go on lists each memory once.

The tree's memories were read newest first in pages of 5,000 by offset: an add committed between
two pages pushed the last memories of the first page onto the second, so they were listed twice (a
preference twice in ``long_term``, ``counts`` above what the store holds)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from memoryd import AsyncMemory

_THINGS = 2_600  # a turn and its preference each: more memories than one page of the old scan


async def test_a_tree_read_while_adds_commit_lists_each_memory_once(make_memory: Callable[..., Any]) -> None:
    async with make_memory() as mem:
        mem: AsyncMemory
        for start in range(0, _THINGS, 200):
            turns = [{"role": "user", "content": f"I like thing{i}."} for i in range(start, start + 200)]
            await mem.add(turns, user_id="ana", run_id="s1", mode="fast")
        trees: list[dict[str, Any]] = []
        adding = True

        async def add_meanwhile() -> None:
            n = 0
            while adding:
                turn = {"role": "user", "content": f"I like extra{n}."}
                await mem.add(turn, user_id="ana", run_id="s2", mode="fast")
                n += 1

        adder = asyncio.ensure_future(add_meanwhile())
        try:
            for _ in range(4):
                await asyncio.sleep(0)
                trees.append(await mem.tree("ana", episodes=0, long_term=10_000))  # every one listed
        finally:
            adding = False
            await adder
        for tree in trees:
            listed = [m["id"] for group in tree["long_term"].values() for m in group]
            assert len(listed) == len(set(listed)), "a memory listed twice"
            assert tree["counts"]["long_term"]["preference"] == len(tree["long_term"]["preference"])
            tiers = tree["counts"]
            assert (
                tiers["episodes"]
                <= tiers["short_term_turns"]
                + tiers["mid_term_turns"]
                + tiers["evicted_turns"]
                + tiers["untracked"]
            )
        total = (await mem.get_all(user_id="ana", limit=1)).total
        final = await mem.tree("ana", episodes=0)
        counts = final["counts"]
        assert counts["episodes"] + sum(counts["long_term"].values()) == total
