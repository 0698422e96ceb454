"""One :class:`AsyncMemoryClient` used from several event loops: each ``asyncio.run`` (or a thread's
own loop) gets connections of its own, closed when that loop ends. A second ``asyncio.run`` raised
"Event loop is closed" (the first loop's connections were reused), and a finished loop left its
connections open."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings

import pytest

from memoryd import AsyncMemoryClient
from tests.api.conftest import Running


def test_each_asyncio_run_gets_its_own_connections(served: Running) -> None:
    mem = AsyncMemoryClient(served.url, timeout=30)
    added = asyncio.run(mem.add("I keep bees on the roof", user_id="ana"))
    hits = asyncio.run(mem.search("bees", user_id="ana"))
    assert [h.memory.id for h in hits][:1] == [added[0].id]
    assert asyncio.run(mem.get(added[0].id)).text == "I keep bees on the roof"
    asyncio.run(mem.close())
    with pytest.raises(RuntimeError, match="this AsyncMemoryClient is closed"):
        asyncio.run(mem.search("bees", user_id="ana"))


def test_loops_of_two_threads_share_one_client_at_once(served: Running) -> None:
    mem = AsyncMemoryClient(served.url, timeout=30)
    asyncio.run(mem.add("Ana's cat is called Miso", user_id="ana"))
    found: dict[str, list[str]] = {}
    failed: list[BaseException] = []
    start = threading.Barrier(2)

    def reader(name: str) -> None:
        async def searches() -> list[str]:
            start.wait()
            out = []
            for _ in range(10):
                hits = await mem.search("cat", user_id="ana")
                out.append(hits[0].memory.text)
            return out

        try:
            found[name] = asyncio.run(searches())
        except BaseException as exc:  # noqa: BLE001 - shown by the assertion below
            failed.append(exc)

    threads = [threading.Thread(target=reader, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failed == []
    assert found == {name: ["Ana's cat is called Miso"] * 10 for name in ("a", "b")}


def test_a_finished_loop_leaves_no_connection_open(served: Running) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        mem = AsyncMemoryClient(served.url, timeout=30)
        asyncio.run(mem.add("I run on Sundays", user_id="ana"))
        assert asyncio.run(mem.search("run", user_id="ana"))
        del mem
        gc.collect()
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []
