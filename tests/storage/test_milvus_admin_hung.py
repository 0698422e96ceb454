"""A Milvus server that stops answering while a store opens: its collection being made, or loaded
(the calls on a whole collection, which had no deadline). ``storage.milvus.timeout`` is "seconds per
server call": opening must fail with a 503 naming ``storage.milvus.uri`` once it has passed, never
wait for ever. The server is a real Milvus (Milvus Lite's gRPC server, a process of its own), reached
through a gRPC relay that stops it with SIGSTOP when the call named arrives, then passes the call on:
the server is frozen at that call and no sooner. SIGCONT lets it go on; it is killed at the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from memoryd.config import Settings, load_settings
from memoryd.errors import StorageError
from memoryd.storage import build_storage
from tests.storage.helpers import DIM, MODEL, adds, opened, record, unit

pytest.importorskip("milvus_lite", reason="Milvus Lite is not installed (pip install 'memoryd[milvus]')")
grpc = pytest.importorskip("grpc")

_GUARD_S = 40  # only so a hang ends the test (within pytest's 120 s): the 503 is due long before


class FreezingRelay:
    """A gRPC server passing every call on, bytes unread, to the Milvus server at ``target``; the
    first call of the method ``freeze_at`` (once set) stops the server process ``pid`` first."""

    def __init__(self, target: str, pid: int) -> None:
        self.pid = pid
        self.freeze_at: str | None = None
        self.frozen = False
        self.upstream = grpc.insecure_channel(target)
        self.server = grpc.server(ThreadPoolExecutor(32))
        self.server.add_generic_rpc_handlers([_Pass(self)])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def arrived(self, method: str) -> None:
        if self.freeze_at is not None and method.endswith("/" + self.freeze_at):
            os.kill(self.pid, signal.SIGSTOP)
            self.frozen, self.freeze_at = True, None  # once
            # A stop reaches each thread when it next enters the kernel: one running on another core
            # could still answer the call forwarded next (seen under CI's load). Forward once all are.
            give_up = time.monotonic() + 10
            while not _all_stopped(self.pid) and time.monotonic() < give_up:
                time.sleep(0.001)

    def thaw(self) -> None:
        if self.frozen:
            os.kill(self.pid, signal.SIGCONT)
            self.frozen = False

    def close(self) -> None:
        self.server.stop(grace=None)
        self.upstream.close()


def _all_stopped(pid: int) -> bool:
    """Whether every thread of ``pid`` is stopped (state T in /proc)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # a thread that ended meanwhile
        if state not in ("T", "t"):
            return False
    return True


class _Pass(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, relay: FreezingRelay) -> None:
        self.relay = relay

    def service(self, details: Any) -> Any:
        method = details.method

        def call(request: bytes, context: Any) -> bytes:
            self.relay.arrived(method)
            left = context.time_remaining()
            headers = [
                (k, v)
                for k, v in context.invocation_metadata()
                if not k.startswith((":", "grpc-")) and k != "user-agent"
            ]
            try:
                answer: bytes = self.relay.upstream.unary_unary(method)(
                    request, timeout=left if left is not None and left < 1e6 else None, metadata=headers
                )
            except grpc.RpcError as exc:
                context.abort(exc.code(), exc.details() or "")
            return answer

        return grpc.unary_unary_rpc_method_handler(call)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def milvus_behind_a_relay(folder: Path) -> Iterator[FreezingRelay]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder / "milvus"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    relay = None
    try:
        give_up = time.monotonic() + 60  # its start, not a measure: a server that never listens ends the test
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < give_up, "Milvus Lite did not start"
                time.sleep(0.1)
        relay = FreezingRelay(f"127.0.0.1:{port}", process.pid)
        yield relay
    finally:
        if relay is not None:
            relay.thaw()
            relay.close()
        process.kill()
        process.wait()


def _settings(relay: FreezingRelay, tmp: Path) -> Settings:
    milvus = {"uri": f"http://127.0.0.1:{relay.port}", "timeout": 1}
    return load_settings(
        env={}, overrides={"storage": {"path": str(tmp / "m.db"), "vectors": "milvus", "milvus": milvus}}
    )


@pytest.mark.parametrize(
    ("made_before", "frozen_at", "doing"),
    [
        (True, "LoadCollection", "loading the collection"),  # a store opening its collection
        (False, "CreateCollection", "the collection"),  # a store making its collection
    ],
)
async def test_a_server_that_stops_answering_while_a_store_opens_fails_the_open_with_a_503(
    made_before: bool, frozen_at: str, doing: str, tmp_path: Path
) -> None:
    with milvus_behind_a_relay(tmp_path) as relay:
        settings = _settings(relay, tmp_path)
        kept = record("kept before the hang")
        if made_before:
            async with opened(settings) as store:  # an earlier run of this store
                await store.commit(adds((kept, unit(1))))
        relay.freeze_at = frozen_at
        store = build_storage(settings)
        try:
            guarded = asyncio.wait_for(store.open(MODEL, DIM), _GUARD_S)
            outcome = (await asyncio.gather(guarded, return_exceptions=True))[0]
            assert relay.frozen  # the server was stopped at that call, and not before
            assert isinstance(outcome, StorageError), repr(outcome)
            assert outcome.status_code == 503 and outcome.field == "storage.milvus.uri"
            assert doing in outcome.message and f"127.0.0.1:{relay.port}" in outcome.message
            assert "no answer within 1 s (storage.milvus.timeout)" in outcome.message, outcome.message
        finally:
            relay.thaw()
            await store.close()
        async with opened(settings) as store:  # answering again: the store opens
            found = await store.vectors.search(unit(1), scope=kept.scope, limit=5)
            assert [m for m, _ in found] == ([kept.id] if made_before else [])
