"""The synchronous client closed by one thread while another waits on the server (an app shutting
down while a worker thread's request is in flight)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from memoryd import MemoryClient
from tests.api.conftest import Running

GUARD_S = 30  # only keeps a regression from hanging the suite; never reached when it works


@pytest.fixture
def silent() -> Iterator[socket.socket]:
    """A loopback port that takes connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(GUARD_S)
        yield sock


def test_a_call_in_flight_when_another_thread_closes_the_client_raises_instead_of_hanging(
    silent: socket.socket,
) -> None:
    client = MemoryClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=None, max_retries=0)
    outcome: list[BaseException | object] = []

    def worker() -> None:
        try:
            outcome.append(client.get_all(user_id="ana"))
        except BaseException as exc:  # noqa: BLE001 - looked at below
            outcome.append(exc)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    connection, _ = silent.accept()  # the worker's request is on the wire, unanswered
    try:
        client.close()
        thread.join(GUARD_S)
        assert not thread.is_alive(), "the worker waits forever on a loop that no longer runs"
    finally:
        connection.close()
    (raised,) = outcome
    assert isinstance(raised, RuntimeError) and "MemoryClient was closed" in str(raised)
    with pytest.raises(RuntimeError, match="closed"):
        client.get_all(user_id="ana")


def test_threads_share_one_client_and_close_after_them(served: Running) -> None:
    with MemoryClient(served.url) as client:
        errors: list[BaseException] = []

        def adds(i: int) -> None:
            try:
                for j in range(3):
                    client.add(f"thread {i} note {j}", user_id="ana")
            except BaseException as exc:  # noqa: BLE001 - looked at below
                errors.append(exc)

        threads = [threading.Thread(target=adds, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(GUARD_S)
        assert errors == [] and client.get_all(user_id="ana").total == 12
