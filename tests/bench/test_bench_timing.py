"""Systems are timed in rotating turns, with untimed switch calls between turns."""

from __future__ import annotations

import asyncio
from typing import Any

from memoryd.bench.results import NoProgress
from memoryd.bench.timing import bind, timed


def test_turns_rotate_and_switch_calls_are_not_timed() -> None:
    log: list[tuple[str, Any]] = []

    def sync_call(item: Any, i: int) -> None:
        log.append(("a", item))

    async def async_call(item: Any, i: int) -> None:
        log.append(("b", item))

    def switch(name: str) -> Any:
        return lambda item, i: log.append((name + "-switch", i))

    items = list(range(5))
    times = asyncio.run(
        timed(NoProgress(), "x", items, {"a": sync_call, "b": async_call},
              {"a": switch("a"), "b": switch("b")}, block=2)
    )  # fmt: skip
    assert {k: len(v) for k, v in times.items()} == {"a": 5, "b": 5}
    assert all(t >= 0 for v in times.values() for t in v)
    assert log == [
        ("a-switch", -1), ("a", 0), ("a", 1), ("b-switch", -1), ("b", 0), ("b", 1),
        ("b-switch", -1), ("b", 2), ("b", 3), ("a-switch", -1), ("a", 2), ("a", 3),
        ("a-switch", -1), ("a", 4), ("b-switch", -1), ("b", 4),
    ]  # fmt: skip


def test_one_system_runs_straight_through_without_switches() -> None:
    seen: list[int] = []
    times = asyncio.run(timed(NoProgress(), "x", [1, 2, 3], {"only": lambda item, i: seen.append(item)},
                              {"only": lambda item, i: seen.append(-1)}))  # fmt: skip
    assert seen == [1, 2, 3] and len(times["only"]) == 3


def test_bind_fixes_the_item() -> None:
    assert bind(lambda item, i: (item, i), "warm")("ignored", 7) == ("warm", 7)
