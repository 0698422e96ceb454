"""The request bodies a server holds at once are bounded (limits.max_body_bytes_in_flight): a body
that does not fit waits for room, then is refused with 503 server_busy; one that fits goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, GatewayServer, target

MIB = 1024 * 1024


def _chat(pad: int, user: str = "ana") -> dict[str, Any]:
    return {"model": "m", "user": user, "messages": [{"role": "user", "content": "hi"}], "pad": "a" * pad}


def _post(gw: GatewayServer, body: dict[str, Any], out: dict[str, httpx.Response], name: str) -> None:
    with gw.http() as http:
        out[name] = http.post("/v1/chat/completions", json=body, timeout=30)


def test_bodies_over_the_in_flight_budget_wait_then_get_503_and_room_comes_back(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # the first call's upstream is slow: its 2 MiB body is held meanwhile, long enough for the two
    # refusals after it (0.5 s of waiting each) on a busy machine
    fake_llm.hang(5.0)
    limits = {"max_body_bytes_in_flight": 3 * MIB, "body_wait_s": 0.5}
    with gateway([[target(fake_llm, "m")]], limits=limits) as gw:
        answers: dict[str, httpx.Response] = {}
        first = threading.Thread(target=_post, args=(gw, _chat(2 * MIB), answers, "first"))
        first.start()
        deadline = time.monotonic() + 30
        while not fake_llm.requests and time.monotonic() < deadline:  # the first body is held
            time.sleep(0.01)
        _post(gw, _chat(10_000, "bo"), answers, "small")  # fits beside it: on at once
        started = time.monotonic()
        _post(gw, _chat(2 * MIB, "cy"), answers, "big")  # does not fit: waits, then 503
        waited = time.monotonic() - started

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "pad": "'
            for _ in range(4):
                yield b"a" * (MIB // 2)
            yield b'"}'

        with gw.http() as http:
            streamed = http.post(
                "/v1/chat/completions", content=chunked(), headers={"content-type": "application/json"}
            )
        first.join(30)
        _post(gw, _chat(2 * MIB, "dee"), answers, "after")  # the first one answered: room again
    assert answers["first"].status_code == 200 and answers["small"].status_code == 200
    busy = answers["big"]
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1" and waited >= 0.45
    assert busy.json()["error"]["code"] == "server_busy"  # in OpenAI's shape, on OpenAI's path
    assert "max_body_bytes_in_flight" in busy.json()["error"]["message"]
    assert streamed.status_code == 503 and streamed.json()["error"]["code"] == "server_busy"
    assert answers["after"].status_code == 200
    # a body over 1 MiB reached the upstream whole (written to it a piece at a time)
    assert [len(r.json["pad"]) for r in fake_llm.requests] == [2 * MIB, 10_000, 2 * MIB]


def test_one_body_within_its_own_limit_always_fits_alone(gateway: GatewayFactory, fake_llm: Script) -> None:
    limits = {"max_body_bytes_in_flight": 1 * MIB, "body_wait_s": 0.2}
    with gateway([[target(fake_llm, "m")]], limits=limits) as gw:
        answers: dict[str, httpx.Response] = {}
        _post(gw, _chat(3 * MIB), answers, "alone")  # over the budget, under gateway.max_body_bytes
    assert answers["alone"].status_code == 200


def test_two_chunked_bodies_that_each_fit_alone_are_both_answered(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # each takes the budget a step at a time as it streams: holding 2 MiB each, both waited for
    # the room the other held, and both got 503 once body_wait_s ran out
    limits = {"max_body_bytes_in_flight": 4 * MIB, "body_wait_s": 3.0}

    def chunked(user: str) -> Iterator[bytes]:
        yield b'{"model": "m", "user": "' + user.encode() + b'", "messages": [{"role": "user", "content": "hi"}],'
        yield b' "pad": "'
        for _ in range(6):
            time.sleep(0.05)  # both bodies are in flight at once
            yield b"a" * (MIB // 2)
        yield b'"}'

    answers: dict[str, httpx.Response] = {}

    def send(user: str) -> None:
        with gw.http() as http:
            answers[user] = http.post(
                "/v1/chat/completions", content=chunked(user), headers={"content-type": "application/json"}
            )

    with gateway([[target(fake_llm, "m")]], limits=limits) as gw:
        senders = [threading.Thread(target=send, args=(user,)) for user in ("ana", "bo")]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(30)
    assert {user: r.status_code for user, r in answers.items()} == {"ana": 200, "bo": 200}
