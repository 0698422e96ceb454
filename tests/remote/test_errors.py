"""A refusal over HTTP raises what the embedded API raises: the same class, ``field`` and message;
a server that is down, a missing API key, a rate limit and its ``Retry-After`` keep their meaning."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd import (
    AsyncMemory,
    AsyncMemoryClient,
    AuthenticationError,
    BackendUnavailableError,
    ConfigError,
    InvalidInputError,
    LLMUnavailableError,
    MemoryClient,
    MemorydError,
    NotFoundError,
    RateLimitedError,
)
from memoryd.embedders.use import USEEmbedder
from memoryd.remote.errors import error_class, from_response
from tests.api.conftest import MAX_MESSAGE_CHARS, Running, make_settings, running_server
from tests.auth.conftest import new_key, with_auth

BAD: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("add", ("hello",), {}),  # no scope
    ("add", ("   ",), {"user_id": "ana"}),  # empty text
    ("add", ("x" * (MAX_MESSAGE_CHARS + 1),), {"user_id": "ana"}),  # oversized
    ("add", ([{"role": "robot", "content": "hi"}],), {"user_id": "ana"}),
    ("add", ("hi",), {"user_id": "ana", "timestamp": "yesterday-ish"}),
    ("add", ("hi",), {"user_id": "ana", "mode": "turbo"}),
    ("get", ("no-such-id",), {"user_id": "ana"}),  # unknown id
    ("get", ("",), {}),
    ("history", ("no-such-id",), {}),
    ("update", ("no-such-id", "new text"), {}),
    ("delete", ("no-such-id",), {"user_id": "ana"}),
    ("get_all", (), {}),
    ("get_all", (), {"user_id": "ana", "filters": {"AND": "not a list"}}),  # malformed filter
    ("get_all", (), {"user_id": "ana", "filters": {"score": {"between": [1, 2]}}}),
    ("get_all", (), {"user_id": "ana", "limit": 0}),
    ("get_all", (), {"user_id": "ana", "as_of": "not a time"}),
    ("search", ("",), {"user_id": "ana"}),  # empty query
    ("search", ("q",), {}),
    ("search", ("q",), {"user_id": "ana", "filters": {"NOT": 3}}),
    ("search", ("q",), {"user_id": "ana", "threshold": 2.0}),
    ("search", ("q",), {"user_id": "ana", "graph_hops": 3}),
    ("delete_all", (), {}),
    ("context", ("q",), {}),
    ("context", ("q",), {"user_id": "ana", "token_budget": 0}),
    # ids URLs read as path steps: delete(".") was DELETE /v1/memories, the scope's delete-all
    ("delete", (".",), {"user_id": "ana"}),
    ("delete", ("..",), {"user_id": "ana"}),
    ("get", (".",), {"user_id": "ana"}),
    ("update", ("a/b", "new text"), {}),
    ("history", ("..",), {}),
    # text that is not UTF-8 (httpx raised UnicodeEncodeError)
    ("add", ("bad \ud800 text",), {"user_id": "ana"}),
    ("add", ([{"role": "user", "content": "hi", "name": "An\udc00a"}],), {"user_id": "ana"}),
    ("add", ("hi",), {"user_id": "ana", "metadata": {"k": "\ud800"}}),
    ("search", ("where \ud800",), {"user_id": "ana"}),
    # values JSON cannot hold (json's TypeError / ValueError left the client), keys it would rewrite
    ("add", ("hi",), {"user_id": "ana", "metadata": {"when": datetime(2024, 5, 1)}}),
    ("add", ("hi",), {"user_id": "ana", "metadata": {"tags": {"a", "b"}}}),
    ("add", ("hi",), {"user_id": "ana", "metadata": {"score": float("nan")}}),
    ("add", ("hi",), {"user_id": "ana", "metadata": {1: "one"}}),  # was stored as {"1": "one"}
    ("update", ("no-such-id",), {"metadata": {"when": datetime(2024, 5, 1)}}),
    ("get_all", (), {"user_id": "ana", "filters": {"created_at": {"gte": datetime(2024, 5, 1, tzinfo=UTC)}}}),
    ("get_all", (), {"user_id": "ana", "filters": {"topic": {"travel", "food"}}}),
    ("search", ("q",), {"user_id": "ana", "filters": {"n": float("nan")}}),
    # times the core refuses: its field and message (True was "timestamp.str: Input should be...")
    ("add", ("hi",), {"user_id": "ana", "timestamp": True}),
    ("add", ("hi",), {"user_id": "ana", "timestamp": 1719828000000}),  # milliseconds: out of range
    ("add", ("hi",), {"user_id": "ana", "timestamp": date(2024, 5, 1)}),
    ("get_all", (), {"user_id": "ana", "as_of": False}),
    ("search", ("q",), {"user_id": "ana", "reference_time": True}),
]


@pytest.mark.parametrize(("call", "args", "kwargs"), BAD, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BAD)])
async def test_the_same_exception_class_and_field(
    local: AsyncMemory, remote: AsyncMemoryClient, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(MemorydError) as embedded:
        await getattr(local, call)(*args, **kwargs)
    with pytest.raises(MemorydError) as served:
        await getattr(remote, call)(*args, **kwargs)
    mine, theirs = embedded.value, served.value
    assert type(theirs) is type(mine), (mine, theirs)
    assert (theirs.field, theirs.code, theirs.message) == (mine.field, mine.code, mine.message)
    assert theirs.details == mine.details


async def test_an_update_merging_metadata_merges_on_the_server(remote: AsyncMemoryClient) -> None:
    memory_id = (await remote.add("I live in Porto", user_id="ana", metadata={"a": 1}))[0].id
    assert memory_id is not None
    merged = await remote.update(memory_id, metadata={"b": 2}, merge_metadata=True)  # it was refused
    assert merged.memory.metadata == {"a": 1, "b": 2}
    replaced = await remote.update(memory_id, metadata={"c": 3})
    assert replaced.memory.metadata == {"c": 3}


def _closed_port() -> str:
    """A loopback URL where nothing listens (the port was just free)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_a_server_that_is_down_is_backend_unavailable_naming_it(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    with running_server(make_settings(tmp_path / "m.db"), embedder) as running:
        url = running.url
        async with AsyncMemoryClient(url) as client:
            await client.add("I live in Porto", user_id="ana")
    async with AsyncMemoryClient(url) as client:  # the server has stopped
        with pytest.raises(BackendUnavailableError) as down:
            await client.search("where?", user_id="ana")
    assert type(down.value) is BackendUnavailableError and url in down.value.message
    assert down.value.details["url"] == url and not isinstance(down.value.__cause__, MemorydError)
    with MemoryClient(_closed_port(), timeout=5) as client, pytest.raises(BackendUnavailableError):
        client.get_all(user_id="ana")


async def test_a_server_that_does_not_answer_in_time_is_backend_unavailable() -> None:
    with socket.socket() as sock:  # accepts connections (the backlog) and never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with AsyncMemoryClient(url, timeout=0.3) as client:
            with pytest.raises(BackendUnavailableError, match="did not answer in time"):
                await client.get_all(user_id="ana")


async def test_an_api_key_is_sent_and_required(served: Running) -> None:
    settings = served.memory.settings
    key = new_key(settings, "admin")
    deadline = time.monotonic() + 10  # the server counts keys again within a second (COUNT_CACHE_S)
    async with AsyncMemoryClient(served.url) as anonymous:
        with pytest.raises(AuthenticationError) as refused:
            while time.monotonic() < deadline:
                await anonymous.get_all(user_id="ana")
                await asyncio.sleep(0.1)
    assert refused.value.code == "unauthorized" and refused.value.message
    async with AsyncMemoryClient(served.url, api_key="mdk_nope_nope") as wrong:
        with pytest.raises(AuthenticationError):
            await wrong.get_all(user_id="ana")
    async with AsyncMemoryClient(served.url, api_key=key) as client:
        await client.add("I live in Porto", user_id="ana")
        assert (await client.get_all(user_id="ana")).total >= 1
    # an admin key's tenant: a store of its own; a tenant with none is a 404 naming the header
    async with AsyncMemoryClient(served.url, api_key=key, tenant="acme") as acme:
        with pytest.raises(NotFoundError) as missing:
            await acme.get_all(user_id="ana")
        assert missing.value.field == "X-Memoryd-Tenant"
        stored = (await acme.add("I work at Acme", user_id="ana"))[0].id
        assert stored is not None
        assert "I work at Acme" in [m.text for m in (await acme.get_all(user_id="ana")).items]
    async with AsyncMemoryClient(served.url, api_key=key) as default:
        with pytest.raises(NotFoundError):
            await default.get(stored)


def test_a_rate_limit_keeps_its_retry_after(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = with_auth(make_settings(tmp_path / "m.db"), rate_limit_per_s=0.01, rate_limit_burst=1)
    key = new_key(settings, "service")
    with running_server(settings, embedder) as running, MemoryClient(running.url, api_key=key) as client:
        client.get_all(user_id="ana")
        with pytest.raises(RateLimitedError) as limited:
            client.get_all(user_id="ana")
    assert limited.value.retry_after_s > 1 and limited.value.details["retry_after"] >= 1
    assert limited.value.retry_after == limited.value.details["retry_after"]  # type: ignore[attr-defined]


def test_an_error_answer_becomes_its_class_with_retry_after() -> None:
    # the error bodies memoryd sends, built by the server's own code, read back
    from memoryd.server.errors import memoryd_error_response

    sent = LLMUnavailableError("no LLM answered", [{"target": "a", "error": "429"}], retry_after=7.2)
    answer = memoryd_error_response(sent)
    request = httpx.Request("POST", "http://memoryd.test/v1/memories")
    raised = from_response(httpx.Response(answer.status_code, headers=answer.headers, content=answer.body,
                                          request=request))  # fmt: skip
    assert type(raised) is LLMUnavailableError and raised.message == "no LLM answered"
    assert raised.failures == [{"target": "a", "error": "429"}] and raised.retry_after == 8.0
    assert raised.details == {"failures": [{"target": "a", "error": "429"}], "retry_after": 8.0}
    # a code no class has maps by status, keeping it; a page that is not memoryd's, by status
    assert error_class("invalid_json", 400) is InvalidInputError
    assert error_class("method_not_allowed", 405) is MemorydError
    proxy = from_response(httpx.Response(502, text="<html>Bad Gateway</html>", request=request))
    assert type(proxy) is BackendUnavailableError and "502" in proxy.message


def test_a_stale_write_answer_says_when_to_retry() -> None:
    # a 503 the same request again resolves (planned from what is there): Retry-After says so
    from memoryd.errors import StaleWriteError
    from memoryd.server.errors import memoryd_error_response

    answer = memoryd_error_response(StaleWriteError("memory m1 was deleted meanwhile"))
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    request = httpx.Request("POST", "http://memoryd.test/v1/memories")
    raised = from_response(httpx.Response(503, headers=answer.headers, content=answer.body, request=request))
    assert type(raised) is StaleWriteError and raised.details == {"retry_after": 1.0}


async def test_a_dot_id_deletes_nothing(remote: AsyncMemoryClient) -> None:
    await remote.add(["I live in Porto", "I like tea"], user_id="ana")
    before = (await remote.get_all(user_id="ana")).total
    for memory_id in (".", "..", "./", "a/.."):
        with pytest.raises(NotFoundError):
            await remote.delete(memory_id, user_id="ana")
    assert (await remote.get_all(user_id="ana")).total == before > 0


def test_a_base_url_that_is_no_url_or_a_key_no_header_can_carry_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as bad:
        MemoryClient("http://[::1")
    assert bad.value.field == "base_url"
    # the README's placeholder copied as it was ("mdk_…") was blamed on the base_url
    for field, kwargs in (("api_key", {"api_key": "mdk_…"}), ("tenant", {"tenant": "acme\nx"})):
        with pytest.raises(ConfigError) as bad:
            MemoryClient("http://127.0.0.1:8420", **kwargs)
        assert bad.value.field == field


async def test_a_base_url_past_the_servers_root_is_a_config_error_not_a_missing_memory(
    remote: AsyncMemoryClient, served: Running
) -> None:
    # "http://host:8420/v1" (or a proxy's path) answers 404 "no route" for every call: that was a
    # NotFoundError, so `except NotFoundError` took a wrong base_url for a memory already deleted
    memory_id = (await remote.add("I live in Porto", user_id="ana"))[0].id
    assert memory_id is not None
    for prefix in ("/v1", "/memoryd"):
        async with AsyncMemoryClient(served.url + prefix) as wrong:
            for call in (lambda: wrong.delete(memory_id), lambda: wrong.get(memory_id), wrong.health):
                with pytest.raises(ConfigError) as raised:
                    await call()
                assert raised.value.field == "base_url" and served.url + prefix in raised.value.message
    assert (await remote.get(memory_id)).text == "I live in Porto"
    with pytest.raises(NotFoundError) as missing:  # a memory that is not there still is a NotFoundError
        await remote.get("no-such-id")
    assert missing.value.field == "memory_id"


@pytest.mark.parametrize(
    ("call", "args", "kwargs"),
    [
        ("get_all", (), {"user_id": "ana", "offset": None}),
        ("get_all", (), {"user_id": "ana", "include_expired": None}),
        ("search", ("q",), {"user_id": "ana", "graph_hops": None}),
    ],
)
async def test_none_for_an_argument_with_a_default_is_refused_as_embedded(
    local: AsyncMemory, remote: AsyncMemoryClient, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    # None was dropped from the request, so the server's default answered where the core refuses
    await remote.add("I live in Porto", user_id="ana")
    with pytest.raises(InvalidInputError) as embedded:
        await getattr(local, call)(*args, **kwargs)
    with pytest.raises(InvalidInputError) as served:
        await getattr(remote, call)(*args, **kwargs)
    assert served.value.field == embedded.value.field
