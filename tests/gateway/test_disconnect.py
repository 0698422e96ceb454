"""Clients that leave before their answer: the upstream call is dropped and nothing is remembered."""

from __future__ import annotations

import time

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, target

Q = [{"role": "user", "content": "My dog is called Biscuit"}]


def test_a_client_that_gives_up_before_the_answer_frees_the_upstream_and_is_not_remembered(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # An SDK whose timeout is shorter than the model's answer gives up (and retries: were the
    # abandoned call stored too, the turn would be remembered twice).
    fake_llm.hang(1.0, then=Reply(text="Biscuit is a fine name."), times=2)
    with gateway([[target(fake_llm, "a")]]) as gw:
        headers = {"Authorization": f"Bearer {gw.key}"}
        for stream in (False, True):
            body = {"model": "a", "messages": Q, "user": "ana", "stream": stream}
            with (
                httpx.Client(base_url=gw.url, timeout=0.3, headers=headers) as http,
                pytest.raises(httpx.ReadTimeout),
            ):
                http.post("/v1/chat/completions", json=body)
        time.sleep(1.5)  # the upstream has answered by now: nobody was there to read it
        check = gw.get("/health")["checks"]["gateway"]
        usage = gw.get("/v1/usage", user_id="ana")["totals"]
        stored = gw.memories("ana")
    assert stored == []
    assert check["writeback"]["scheduled"] == 0
    (label,) = check["targets"]
    assert check["targets"][label]["successes"] == 0  # both upstream calls were dropped, not read
    assert usage["requests"] == 2  # still counted


def _leaves_as_the_stream_starts(app: ASGIApp) -> ASGIApp:
    """A chat client that is gone by the time its response starts, as an ASGI 2.4 server says
    so: sending the response's start raises ``OSError`` (the stream's relay never runs)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await app(scope, receive, send)
            return

        async def gone(message: Message) -> None:
            if message["type"] == "http.response.start":
                raise OSError("the client has gone")
            await send(message)

        await app({**scope, "asgi": {**scope["asgi"], "spec_version": "2.4"}}, receive, gone)

    return wrapped


def test_a_stream_whose_client_leaves_as_its_response_starts_is_still_counted(
    gateway: GatewayFactory, fake_llm: Script, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.reply_text("Biscuit is a fine name.")
    with gateway([[target(fake_llm, "a")]], wrap=_leaves_as_the_stream_starts) as gw:
        with gw.http() as http:
            body = {"model": "a", "messages": Q, "user": "ana", "stream": True}
            assert http.post("/v1/chat/completions", json=body).status_code == 500  # uvicorn's
        deadline = time.monotonic() + 10
        while (usage := gw.get("/v1/usage", user_id="ana")["totals"])["requests"] == 0:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check = gw.get("/health")["checks"]["gateway"]
        stored = gw.memories("ana")
    assert usage["requests"] == 1  # the call is counted though its relay never ran
    assert stored == [] and check["writeback"]["scheduled"] == 0  # nobody read the answer
    assert "unexpected error" not in caplog.text  # a client leaving is no incident of the server's
