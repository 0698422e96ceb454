"""A memoryd server behind a proxy (nginx) that answers 502 or 504 for it: the server's answer was
lost, so a read is asked again, as after a dropped connection, and a write never is."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemoryClient, BackendUnavailableError
from tests.remote.test_answers import answering_in_turn
from tests.remote.test_retries import PAGE, _answer


def _proxy(status: str) -> bytes:
    page = b"<html><body><h1>" + status.encode() + b"</h1><hr>nginx</body></html>"
    return _answer(status, page).replace(b"application/json", b"text/html")


@pytest.mark.parametrize("status", ["502 Bad Gateway", "504 Gateway Time-out"])
async def test_a_proxys_502_or_504_is_asked_again_for_a_read_never_for_a_write(status: str) -> None:
    answers = [_proxy(status), PAGE]
    async with answering_in_turn(answers) as (url, seen), AsyncMemoryClient(url) as client:
        assert (await client.get_all(user_id="ana")).total == 0
    assert len(seen) == 2
    async with answering_in_turn(answers) as (url, seen), AsyncMemoryClient(url) as client:
        with pytest.raises(BackendUnavailableError, match=status.split()[0]):  # it may have been stored
            await client.add("the blue notebook is on the shelf", user_id="ana")
    assert seen == [b"POST /v1/memories HTTP/1.1"]
    async with answering_in_turn([_proxy(status)]) as (url, seen), AsyncMemoryClient(url) as client:
        with pytest.raises(BackendUnavailableError, match=status.split()[0]):  # retries spent
            await client.get_all(user_id="ana")
    assert len(seen) == 3
