"""``users()`` read while another user adds counts each memory once.

The listing read every current memory newest first in pages of 5,000 by offset: an add committed
between two pages pushed the last memories of the first page onto the second, so a large user was
listed with memories it does not have (each counted twice), by the adds of someone else."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from memoryd import AsyncMemory

_THINGS = 2_600  # a turn and its preference each: more memories than one page of the old scan


async def test_users_read_while_another_user_adds_counts_each_memory_once(
    make_memory: Callable[..., Any],
) -> None:
    async with make_memory() as mem:
        mem: AsyncMemory
        for start in range(0, _THINGS, 200):
            turns = [{"role": "user", "content": f"I like thing{i}."} for i in range(start, start + 200)]
            await mem.add(turns, user_id="ana", run_id="s1", mode="fast")
        ana = (await mem.get_all(user_id="ana", limit=1)).total
        kinds = {"episode": _THINGS, "preference": _THINGS}
        assert ana == sum(kinds.values())
        listings: list[list[dict[str, Any]]] = []
        adding = True

        async def bob_adds_meanwhile() -> None:
            n = 0
            while adding:
                await mem.add({"role": "user", "content": f"I like extra{n}."}, user_id="bob", mode="fast")
                n += 1

        adder = asyncio.ensure_future(bob_adds_meanwhile())
        try:
            for _ in range(4):
                await asyncio.sleep(0)
                listings.append(await mem.users())
        finally:
            adding = False
            await adder
        for rows in listings:
            [row] = [r for r in rows if r["user_id"] == "ana"]
            assert (row["memories"], row["kinds"]) == (ana, kinds)
