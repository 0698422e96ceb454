"""Upstreams that are slow, busy or picky: the gateway neither sends a generation twice, nor
shuts out a target that is up, nor blames the client for a fallback model's limits.

Each test failed on the code before its fix (found in a review of the gateway).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import openai
import pytest

from memoryd.gateway.inject import frame_tokens
from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, add_memory, target

Q = [{"role": "user", "content": "Tell me something."}]


def test_a_slow_answer_is_waited_for_and_asked_once(gateway: GatewayFactory, fake_llm: Script) -> None:
    # llm.timeout_s cut the whole call: a 1.5 s generation was sent 3 times, then a 503 opened
    # the breaker for every caller.
    fake_llm.hang(1.5, then=Reply(text="a long essay"))
    fake_llm.default_text("quick")
    with gateway([[target(fake_llm, "m")]], llm={"timeout_s": 1.0, "max_attempts": 3}) as gw:
        client = gw.client()
        assert client.chat.completions.create(model="m", messages=Q).choices[0].message.content == "a long essay"
        assert len(fake_llm.requests) == 1
        assert client.chat.completions.create(model="m", messages=Q).choices[0].message.content == "quick"


def test_an_answer_past_the_gateway_timeout_is_not_asked_again_but_falls_back(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    fake_llm.hang(30)  # sent, and never answered in time
    second.default_text("from the backup")
    tiers = [[target(fake_llm, "a")], [target(second, "b")]]
    with gateway(tiers, llm={"timeout_s": 5.0, "max_attempts": 4}, gateway={"answer_timeout_s": 1.0}) as gw:
        raw = gw.client().chat.completions.with_raw_response.create(model="a", messages=Q)
        assert raw.parse().choices[0].message.content == "from the backup"
        stats = gw.app.state.gateway.router.stats()["targets"]
    assert len(fake_llm.requests) == 1  # not sent to it a second time: it may have been generated
    [first] = [s for s in stats.values() if s["tier"] == 1]
    assert "no answer within 1 s of sending" in first["last_error"]


def test_a_busy_upstream_is_a_429_with_retry_after_and_is_not_shut_out(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # Three 429s opened the breaker: a 503 without Retry-After, then 503s for the whole cool-down
    # though the upstream was fine again.
    fake_llm.fail(429, retry_after=0.2, times=3, message="Rate limit reached for requests")
    fake_llm.default_text("fine again")
    with gateway([[target(fake_llm, "m")]], llm={"max_attempts": 3, "breaker_failures": 3}) as gw:
        client = gw.client()
        with pytest.raises(openai.RateLimitError) as busy:
            client.chat.completions.create(model="m", messages=Q)
        assert busy.value.response.headers["retry-after"] == "1"
        assert busy.value.code == "rate_limit_exceeded" and "Rate limit reached" in busy.value.message
        assert client.chat.completions.create(model="m", messages=Q).choices[0].message.content == "fine again"
        [stats] = gw.app.state.gateway.router.stats()["targets"].values()
    assert (stats["state"], stats["rate_limited"], stats["failures"]) == ("closed", 3, 0)


def test_an_open_breaker_answers_503_with_when_to_come_back(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.fail(500)
    llm = {"max_attempts": 1, "breaker_failures": 1, "breaker_cooldown_s": 30}
    with gateway([[target(fake_llm, "m")]], llm=llm) as gw, gw.http() as http:
        assert http.post("/v1/chat/completions", json={"model": "m", "messages": Q}).status_code == 503
        shut = http.post("/v1/chat/completions", json={"model": "m", "messages": Q})
    assert shut.status_code == 503 and "circuit open" in shut.json()["error"]["message"]
    assert 25 <= int(shut.headers["retry-after"]) <= 30


def test_a_probe_that_streams_long_lets_other_calls_through_once_it_answers(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # The half-open probe held the breaker until its stream ended: a target answering at once
    # refused every other call (503) for the whole stream.
    fake_llm.fail(500)
    llm = {"max_attempts": 1, "breaker_failures": 1, "breaker_cooldown_s": 0.3}
    with gateway([[target(fake_llm, "m")]], llm=llm) as gw, gw.http() as http:
        assert http.post("/v1/chat/completions", json={"model": "m", "messages": Q}).status_code == 503
        time.sleep(0.4)
        fake_llm.reply_text(" ".join(f"w{i}" for i in range(30)), chunk_delay=0.1)
        fake_llm.default_text("quick answer")
        first_chunk, ended = threading.Event(), threading.Event()

        def probe() -> None:
            with gw.http() as mine:
                body = {"model": "m", "stream": True, "messages": Q}
                with mine.stream("POST", "/v1/chat/completions", json=body) as stream:
                    for _ in stream.iter_bytes():
                        first_chunk.set()
            ended.set()

        thread = threading.Thread(target=probe)
        thread.start()
        try:
            assert first_chunk.wait(10)
            quick = http.post("/v1/chat/completions", json={"model": "m", "messages": Q})
            assert not ended.is_set()  # still streaming
        finally:
            thread.join(30)
    assert quick.status_code == 200, quick.text
    assert quick.json()["choices"][0]["message"]["content"] == "quick answer"


def test_a_fallback_models_refusal_is_passed_over_not_relayed(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    cheap, other = fake_llm_factory(), fake_llm_factory()
    fake_llm.default(Reply(status=503, text=None, message="overloaded"))
    refusal = {"error": {"message": "response_format json_schema is not supported", "type": "invalid_request_error"}}
    cheap.default(Reply(status=400, text=None, body=refusal))
    other.default_text("fine answer")
    tiers = [[target(fake_llm, "gpt-4o")], [target(cheap, "cheap-model")], [target(other, "other")]]
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    with gateway(tiers, llm={"max_attempts": 5, "breaker_failures": 100}) as gw, gw.http() as http:
        served = http.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": Q, "response_format": schema})
        # the model asked for refusing it is still the client's answer
        own = http.post("/v1/chat/completions", json={"model": "cheap-model", "messages": Q, "response_format": schema})
    assert served.status_code == 200 and served.json()["choices"][0]["message"]["content"] == "fine answer"
    assert len(cheap.requests) == 2 and len(other.requests) == 1
    assert own.status_code == 400 and "not supported" in own.json()["error"]["message"]


def test_the_injected_block_keeps_within_the_budget(gateway: GatewayFactory, fake_llm: Script) -> None:
    # The budget bounded the memories only: the frame around them made a 60-token budget 146.
    with gateway([[target(fake_llm, "m")]], gateway={"token_budget": 120}) as gw:
        for i in range(12):
            add_memory(gw, f"I visited museum number {i} in Vienna and loved its paintings", "ana")
        raw = gw.client().chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "Which museums did I visit?"}], user="ana"
        )
    assert raw.headers["x-memoryd-memory"] == "injected"
    assert frame_tokens() < int(raw.headers["x-memoryd-memory-tokens"]) <= 120


def test_auth_refusals_on_the_openai_routes_are_in_openais_shape(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    auth = {"rate_limit_per_s": 0.001, "rate_limit_burst": 1}
    with gateway([[target(fake_llm, "m")]], auth=auth) as gw:
        with pytest.raises(openai.AuthenticationError) as refused:
            gw.client(key="mk_nope_nope").chat.completions.create(model="m", messages=Q)
        assert refused.value.body["type"] == "authentication_error"  # type: ignore[index]
        client = gw.client()
        client.models.list()  # the burst
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="m", messages=Q)
        assert limited.value.body["type"] == "rate_limit_error"  # type: ignore[index]
        assert int(limited.value.response.headers["retry-after"]) >= 1
        with httpx.Client(base_url=gw.url) as anonymous:  # memoryd's own routes keep memoryd's shape
            assert set(anonymous.get("/v1/memories", params={"user_id": "a"}).json()["error"]) >= {"code", "message"}


def test_models_are_not_listed_while_the_gateway_is_off(gateway: GatewayFactory, fake_llm: Script) -> None:
    with gateway([[target(fake_llm, "m")]], gateway={"enabled": False}) as gw, gw.http() as http:
        listed, one = http.get("/v1/models"), http.get("/v1/models/m")
    assert listed.status_code == one.status_code == 503
    assert listed.json()["error"]["code"] == "no_upstream" and "gateway.enabled" in listed.json()["error"]["message"]


def test_a_user_key_is_shown_no_upstreams_address(gateway: GatewayFactory, fake_llm: Script) -> None:
    """/health hides the upstreams from user keys, but /v1/models listed their host:port, and a
    failed chat and X-Memoryd-Target named them."""
    from tests.gateway.conftest import key

    fake_llm.default_text("hello")
    with gateway([[target(fake_llm, "m")]], llm={"max_attempts": 1, "breaker_failures": 100}) as gw:
        ana = gw.client(key=key(gw.settings, "user", user_id="ana"))
        host = fake_llm.base_url.split("//")[1].split("/")[0]
        listed = ana.models.list().model_dump_json()
        raw = ana.chat.completions.with_raw_response.create(model="m", messages=Q)
        fake_llm.reply_text("one two three four", stream_cut_after=2)  # breaks after its first chunks
        broken = b""
        with gw.http(key=key(gw.settings, "user", user_id="ana")) as http, http.stream(
            "POST", "/v1/chat/completions", json={"model": "m", "messages": Q, "stream": True}
        ) as stream:
            for part in stream.iter_bytes():
                broken += part
        fake_llm.fail(500, message="upstream internal error")
        with pytest.raises(openai.InternalServerError) as failed:
            ana.chat.completions.create(model="m", messages=Q)
        admin = gw.client().models.list().model_dump_json()
    assert b"upstream_stream_error" in broken and host.encode() not in broken
    assert host not in listed and host in admin  # an admin still sees them
    assert raw.headers["x-memoryd-target"] == "m"
    body = failed.value.response.text
    assert failed.value.status_code == 503 and host not in body and "internal error" not in body
