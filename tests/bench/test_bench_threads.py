"""CPU time by thread role: memoryd's own threads over a phase, shared threads per call."""

from __future__ import annotations

import threading
import time

from memoryd.bench.threads import ThreadCpu, shared_cpu_ms


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_cpu_is_told_apart_by_thread_role() -> None:
    done, leave = threading.Event(), threading.Event()

    def writer_work() -> None:  # memoryd's threads live as long as the store: it waits to be read
        _burn(0.06)
        done.set()
        leave.wait(10)

    cpu = ThreadCpu()  # memoryd's own threads: counted over the whole phase, even outside the calls
    writer = threading.Thread(target=writer_work, name="memoryd-sqlite-writer")
    writer.start()
    done.wait(10)
    await cpu.count(lambda: _burn(0.04))  # the main thread, during a counted call: the event loop
    _burn(0.05)  # the main thread between calls (another system's turn): not memoryd's
    await cpu.count(lambda: None)
    out = cpu.per_call_ms()
    leave.set()
    writer.join()
    assert out is not None
    assert 25 <= out["sqlite writer"] <= 40  # 60 ms over two calls
    assert 15 <= out["event loop"] <= 30  # 40 ms over two calls, not the 50 ms between them
    assert out["total"] >= out["sqlite writer"] + out["event loop"] - 0.05
    raw: list[float] = []
    await shared_cpu_ms(lambda: _burn(0.03), raw)
    assert len(raw) == 1 and 25 <= raw[0] <= 40


def _writer(seconds: float) -> tuple[threading.Thread, threading.Event]:
    """A store's writer thread that has spent ``seconds`` of CPU and lives until the event is set."""
    burnt, leave = threading.Event(), threading.Event()

    def work() -> None:
        _burn(seconds)
        burnt.set()
        leave.wait(10)

    thread = threading.Thread(target=work, name="memoryd-sqlite-writer")
    thread.start()
    burnt.wait(10)
    return thread, leave


async def test_a_thread_that_ends_during_the_phase_takes_nothing_away() -> None:
    """A store closed during the phase (its writer thread gone: its CPU can no longer be read) is
    not counted as negative CPU of the writer role: the batch phase once read -6.1 ms of it."""
    old, leave_old = _writer(0.05)
    cpu = ThreadCpu()  # the old store's writer is alive, with 50 ms spent
    leave_old.set()
    old.join()  # that store closes
    new, leave_new = _writer(0.02)  # the next store's: alive when the phase ends
    await cpu.count(lambda: _burn(0.01))
    out = cpu.per_call_ms()
    leave_new.set()
    new.join()
    assert out is not None and 15 <= out["sqlite writer"] <= 35  # the new writer's 20 ms, not 20 - 50
