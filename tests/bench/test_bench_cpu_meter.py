"""The benchmarks' CPU meter: the benchmark's own processes are never reported as "others"."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from memoryd.bench.results import CpuMeter, process_cpu

BURN = 0.5  # CPU seconds each child spends
_SPIN = f"import time\nend = time.process_time() + {BURN}\nwhile time.process_time() < end: pass\n"


def test_a_joined_child_counts_as_the_benchmarks_own_cpu() -> None:
    own, plain = CpuMeter(children=True), CpuMeter()
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", _SPIN], check=True)
    wall = time.monotonic() - started
    only_own, with_child = own.others_share(), plain.others_share()
    assert only_own is not None and with_child is not None
    # The child's CPU is "others" only to the meter that ignores children.
    assert with_child - only_own > 0.5 * BURN / (wall * (os.cpu_count() or 1))


def test_a_live_process_under_test_counts_as_the_benchmarks_own_cpu() -> None:
    server = subprocess.Popen([sys.executable, "-c", _SPIN + "import time\ntime.sleep(30)\n"])
    try:
        own, plain = CpuMeter(pids=[server.pid]), CpuMeter()
        started = time.monotonic()
        while process_cpu(server.pid) < BURN * 0.9:  # it spins, then sleeps
            time.sleep(0.02)
        wall = time.monotonic() - started
        only_own, with_server = own.others_share(), plain.others_share()
        assert only_own is not None and with_server is not None
        assert with_server - only_own > 0.5 * BURN / (wall * (os.cpu_count() or 1))
    finally:
        server.kill()
        server.wait()
