"""A Milvus server that stops answering under a running store (a partition, a hung host: the
connection stays open, nothing comes back). ``storage.milvus.timeout`` is "seconds per server
call": a search and a write must fail with a 503 naming ``storage.milvus.uri`` once it has passed,
never wait for ever (a write waits inside the SQLite writer's transaction). The server is a real
Milvus (Milvus Lite's gRPC server, run here as a server at a URI) behind a TCP relay this test
freezes: it keeps both connections open and passes nothing on."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from memoryd.config import load_settings
from memoryd.errors import StorageError
from memoryd.models import Scope
from tests.storage.helpers import adds, opened, record, unit

pytest.importorskip("milvus_lite", reason="Milvus Lite is not installed (pip install 'memoryd[milvus]')")

_GUARD_S = 40  # only so a hang ends the test (within pytest's 120 s): the 503 is due long before


class Relay:
    """TCP from a port of its own to ``target``, passed on until :meth:`freeze`, then held silent."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.open = threading.Event()
        self.open.set()
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
                self.sockets += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self.open.wait()  # frozen: read, kept, never passed on
                sink.sendall(data)

    def freeze(self) -> None:
        self.open.clear()

    def close(self) -> None:
        self.open.set()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.close()


@contextlib.contextmanager
def milvus_behind_a_relay(folder: Path) -> Iterator[Relay]:
    from milvus_lite.server_manager import server_manager_instance

    data = str(folder / "server.db")
    uri = server_manager_instance.start_and_get_uri(data)
    assert uri is not None
    host, port = uri.removeprefix("http://").split(":")
    relay = Relay((host, int(port)))
    try:
        yield relay
    finally:
        relay.close()
        server_manager_instance.release_server(data)


async def test_a_server_that_stops_answering_fails_searches_and_writes_with_a_503(tmp_path: Path) -> None:
    with milvus_behind_a_relay(tmp_path) as relay:
        milvus = {"uri": f"http://127.0.0.1:{relay.port}", "timeout": 1}
        overrides = {"storage": {"path": str(tmp_path / "m.db"), "vectors": "milvus", "milvus": milvus}}
        settings = load_settings(env={}, overrides=overrides)
        kept, lost = record("kept before the hang"), record("lost in the hang")
        async with opened(settings) as store:
            await store.commit(adds((kept, unit(1))))
            assert [
                m for m, _ in await store.vectors.search(unit(1), scope=Scope(user_id="u1"), limit=5)
            ] == [kept.id]
            relay.freeze()
            for attempt in (
                lambda: store.vectors.search(unit(1), scope=Scope(user_id="u1"), limit=5),
                lambda: store.commit(adds((lost, unit(0, 1)))),
            ):
                guarded = asyncio.wait_for(attempt(), _GUARD_S)
                outcome = (await asyncio.gather(guarded, return_exceptions=True))[0]
                assert isinstance(outcome, StorageError), repr(outcome)
                assert outcome.status_code == 503 and outcome.field == "storage.milvus.uri"
            assert await store.records.get_many([lost.id]) == {}  # the failed write left nothing
            relay.close()  # the store's close may flush: let it fail at once
