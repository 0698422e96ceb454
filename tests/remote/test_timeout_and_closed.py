"""A ``timeout`` no request can keep is refused when the client is made, as ``max_retries`` is
(``"5"`` was a TypeError at the first call, NaN a ValueError, 0 or -1 made every call "did not
answer in time"); and an :class:`AsyncMemoryClient` used after it was closed says so, as
:class:`MemoryClient` does (it raised httpx's "Cannot send a request")."""

from __future__ import annotations

from typing import Any

import pytest

from memoryd import AsyncMemoryClient, ConfigError, MemoryClient
from tests.api.conftest import Running


@pytest.mark.parametrize("timeout", ["5", 0, -1, float("nan"), float("inf"), True])
def test_a_timeout_no_request_can_keep_is_a_config_error(timeout: Any) -> None:
    for make in (AsyncMemoryClient, MemoryClient):
        with pytest.raises(ConfigError) as bad:
            make("http://127.0.0.1:8420", timeout=timeout)
        assert bad.value.field == "timeout"


def test_a_number_of_seconds_or_none_is_kept(served: Running) -> None:
    for timeout in (None, 5, 2.5):
        with MemoryClient(served.url, timeout=timeout) as mem:
            assert mem.get_all(user_id="ana").total == 0


async def test_a_closed_async_client_says_it_is_closed(served: Running) -> None:
    async with AsyncMemoryClient(served.url) as mem:
        assert (await mem.get_all(user_id="ana")).total == 0
    for call in (lambda: mem.get_all(user_id="ana"), mem.health):
        with pytest.raises(RuntimeError, match="this AsyncMemoryClient is closed"):
            await call()
