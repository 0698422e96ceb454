"""``memoryd serve`` keeps an idle connection open longer than clients keep theirs.

uvicorn's default (5 s) is httpx's own keep-alive: under load about 1 request in 1,000 went out
on a connection the server was closing and failed unanswered (httpx.ReadError). The server now
keeps it ``server.keep_alive_s`` (75 s): a connection idle for 6 s still answers.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

SCRIPT = shutil.which("memoryd", path=str(Path(sys.executable).parent)) or shutil.which("memoryd")
REQUEST = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answer(sock: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body), or b"" when the server closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_a_connection_idle_longer_than_httpx_keeps_its_own_still_answers(tmp_path: Path) -> None:
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env.update({"MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"), "HF_HUB_OFFLINE": "1"})
    server = subprocess.Popen(
        [SCRIPT, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "memoryd serve did not start"
            time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(REQUEST)
            assert _answer(sock).startswith(b"HTTP/1.1 200")
            time.sleep(6)  # past uvicorn's default and httpx's 5 s
            sock.sendall(REQUEST)
            assert _answer(sock).startswith(b"HTTP/1.1 200")  # b"": the server had closed it
    finally:
        server.terminate()
        server.wait(30)
