"""The remote client sends a request again when the server says it was not carried out (429,
503: with its Retry-After) or no connection was made, and a read when its answer was lost; a
write whose answer was lost is never sent twice (it may have been stored)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from memoryd import AsyncMemoryClient, BackendUnavailableError, MemoryClient, RateLimitedError
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConfigError, StorageError
from tests.api.conftest import make_settings, running_server
from tests.auth.conftest import new_key, with_auth
from tests.remote.test_answers import answering_in_turn


def _answer(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


UNAVAILABLE = _answer(
    "503 Service Unavailable",
    b'{"error": {"code": "storage_error", "message": "busy"}}',
    "Retry-After: 0",
)
PAGE = _answer("200 OK", b'{"results": [], "total": 0, "offset": 0, "limit": 100}')
SILENCE = b""  # the connection is closed without an answer


async def test_a_503_is_sent_again_and_the_answer_after_it_returned() -> None:
    answers = [UNAVAILABLE, UNAVAILABLE, PAGE]
    async with answering_in_turn(answers) as (url, seen), AsyncMemoryClient(url) as client:
        page = await client.get_all(user_id="ana")
    assert page.total == 0 and len(seen) == 3
    async with answering_in_turn(answers) as (url, seen), AsyncMemoryClient(url, max_retries=1) as client:
        with pytest.raises(StorageError, match="busy"):  # retries spent: the last answer's error
            await client.get_all(user_id="ana")
    assert len(seen) == 2


async def test_a_lost_answer_is_asked_again_for_a_read_never_for_a_write() -> None:
    async with answering_in_turn([SILENCE, PAGE]) as (url, seen), AsyncMemoryClient(url) as client:
        assert (await client.get_all(user_id="ana")).total == 0  # a list (a POST that reads)
    assert len(seen) == 2
    async with answering_in_turn([SILENCE, PAGE]) as (url, seen), AsyncMemoryClient(url) as client:
        with pytest.raises(BackendUnavailableError):
            await client.add("the blue notebook is on the shelf", user_id="ana")  # it may have been stored
    assert seen == [b"POST /v1/memories HTTP/1.1"]


async def test_a_retry_after_longer_than_the_client_waits_is_raised_at_once() -> None:
    later = _answer(
        "503 Service Unavailable",
        b'{"error": {"code": "storage_error", "message": "x"}}',
        "Retry-After: 600",
    )
    async with answering_in_turn([later, PAGE]) as (url, seen), AsyncMemoryClient(url) as client:
        with pytest.raises(StorageError) as raised:
            await client.get_all(user_id="ana")
    assert raised.value.retry_after == 600.0 and len(seen) == 1


def test_a_rate_limited_client_waits_as_the_server_says(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = with_auth(
        make_settings(tmp_path / "m.db"), required="always", rate_limit_per_s=1.0, rate_limit_burst=1
    )
    key = new_key(settings, "admin")
    with running_server(settings, embedder) as running:
        with MemoryClient(running.url, api_key=key, max_retries=0) as impatient:
            impatient.get_all(user_id="ana")
            with pytest.raises(RateLimitedError):
                impatient.get_all(user_id="ana")
        time.sleep(1.1)
        with MemoryClient(running.url, api_key=key) as patient:
            patient.add(
                "the blue notebook is on the shelf", user_id="ana"
            )  # a 429 stored nothing: sent again
            assert [m.text for m in patient.get_all(user_id="ana").items][:1] == [
                "the blue notebook is on the shelf"
            ]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_max_retries_must_be_a_whole_number(bad: object) -> None:
    with pytest.raises(ConfigError, match="max_retries"):
        AsyncMemoryClient("http://127.0.0.1:1", max_retries=bad)  # type: ignore[arg-type]
