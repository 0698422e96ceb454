"""A throw-away ``redis-server`` on a free loopback port, for tests and ``memoryd bench pipeline``.

It runs in a directory of its own with an append-only file (fsynced every
second, or on every write with ``fsync="always"``), so it can be stopped and
started again on the same port without losing what it held, as a production
Redis configured for the pipeline would. Tests of a Redis configured otherwise
give ``appendonly=False`` (nothing survives a restart) or ``options`` (more
``redis-server`` settings: ``{"maxmemory-policy": "allkeys-lru", "maxmemory": "3mb"}``).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from memoryd.errors import BackendUnavailableError

__all__ = ["LocalRedis", "free_port", "redis_server_binary"]


def redis_server_binary() -> str | None:
    """The path of ``redis-server``, or ``None`` (Debian: ``apt-get install redis-server``)."""
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _tail(path: Path, lines: int = 5) -> str:
    """The last lines of a text file on one line (``" | "`` between them); empty when it is
    missing, empty or unreadable."""
    try:
        text = path.read_text(errors="replace")[-4000:]
    except OSError:
        return ""
    return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])


class LocalRedis:
    """``with LocalRedis(tmp_dir) as redis: ... redis.url ...``; ``stop()``/``start()`` to restart it."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        fsync: str = "everysec",
        appendonly: bool = True,
        options: Mapping[str, str] | None = None,
    ) -> None:
        binary = redis_server_binary()
        if binary is None:
            msg = "redis-server is not installed (Debian: apt-get install redis-server)"
            raise BackendUnavailableError(msg)
        self.binary = binary
        # Absolute: redis-server changes into --dir first, then opens --logfile and its AOF there.
        self.directory = Path(directory).absolute()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.fsync = fsync
        self.appendonly = appendonly
        self.options = dict(options or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def start(self, timeout_s: float = 15.0) -> None:
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", self.fsync,
            "--daemonize", "no", "--logfile", str(self.directory / "redis.log"), "--protected-mode", "yes",
        ]  # fmt: skip
        for name, value in self.options.items():
            args += [f"--{name}", value]
        # What it prints before its log file is open (a config error, say) goes to a file: a pipe
        # nobody reads could fill up and stall the server.
        output = self.directory / "redis-server.out"
        with output.open("wb") as sink:
            self.process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not _pong(self.port):
            code = self.process.poll()
            if code is not None or time.monotonic() > deadline:
                self.stop(kill=True)
                how = f"exited with code {code}" if code is not None else f"no answer within {timeout_s:g} s"
                why = _tail(output) or _tail(self.directory / "redis.log") or "it printed nothing"
                raise BackendUnavailableError(
                    f"redis-server did not start on port {self.port} ({how}): {why}",
                    directory=str(self.directory),
                )
            time.sleep(0.02)

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (Redis flushes and exits) or SIGKILL; waits for the process to end."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> LocalRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
