"""The place names a move is read against load off the event loop, on the first add that may
state a move: a server's other requests go on meanwhile (~0.4 s of loading)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# A fresh process (the names unloaded), asyncio's debug mode reporting any step of the event
# loop that holds it for 0.25 s or more. The step is watched through asyncio's own warning.
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

    async def main():
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = 0.25
        settings = load_settings(env={}, overrides={"storage": {"path": sys.argv[1]}})
        async with AsyncMemory(settings) as mem:
            await mem.warm()  # the model, loaded on its thread: not what is watched
            await mem.add("I like tea", user_id="ana")
            loop.set_debug(True)
            await asyncio.sleep(0)  # the add then starts in a step of its own: debug mode times it
            out = await mem.add("I moved to Lisbon last month", user_id="ana")
            loop.set_debug(False)
            print("read:", [r.memory.text for r in out if r.memory.kind.value == "profile"])
        print("slow steps:", slow)

    asyncio.run(main())
    """
)


def test_first_move_loads_place_names_off_the_event_loop(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "m.db")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "read: ['The user lives in Lisbon.']" in lines
    assert "slow steps: []" in lines, done.stdout
