"""``memoryd serve`` in a process of its own, for tests that need a fresh interpreter or a kill."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(env: Mapping[str, str], ready_within_s: float = 60) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``memoryd serve`` on a free loopback port with ``env``; return it and its URL once
    ``/health/ready`` answers 200 (the test fails if it exits or is not ready in time)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "memoryd", "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=dict(env),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_within_s
    try:
        while True:
            assert server.poll() is None, "memoryd serve exited"
            assert time.monotonic() < deadline, "memoryd serve did not become ready"
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    return server, url
            except httpx.HTTPError:
                time.sleep(0.1)
    except BaseException:
        server.kill()
        server.wait(timeout=10)
        raise
