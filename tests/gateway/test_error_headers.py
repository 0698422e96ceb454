"""An error answered after the memory lookup says what the lookup did, as an answer does.

Before the fix, only a relayed upstream refusal (4xx) carried ``X-Memoryd-Memory`` and its
companions: a 503 ``upstream_unavailable`` (every upstream down), a 429 (every upstream busy) and
a 502 (every upstream refusing memoryd's key) had none, though the memories had been looked up
(and, for an injected block, counted in ``/v1/usage``).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, add_memory, target

ASK = [{"role": "user", "content": "Which music do I like?"}]
MEMORY_HEADERS = (
    "x-memoryd-memory",
    "x-memoryd-memories-injected",
    "x-memoryd-memory-tokens",
    "x-memoryd-memory-ms",
    "x-memoryd-writeback",
)


def _failing(script: Script, status: int) -> None:
    if status == 429:
        script.fail(429, retry_after=1)
    else:
        script.fail(status, message="no such parameter: frobnicate" if status == 400 else "scripted failure")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("upstream", "status", "code"),
    [
        (503, 503, "upstream_unavailable"),  # every upstream down
        (429, 429, "rate_limit_exceeded"),  # every upstream busy
        (401, 502, "upstream_auth_failed"),  # every upstream refusing memoryd's key
        (400, 400, None),  # the upstream's refusal of the request, relayed
    ],
)
def test_an_error_after_the_memory_lookup_carries_the_memory_headers(
    gateway: GatewayFactory, fake_llm: Script, stream: bool, upstream: int, status: int, code: str | None
) -> None:
    fake_llm.default_text("jazz")
    # Write-back off: the first call's turn, stored meanwhile, would be a memory of the second.
    sections: dict[str, Any] = {"llm": {"max_attempts": 1}, "gateway": {"writeback": False}}
    with gateway([[target(fake_llm, "m")]], **sections) as gw, gw.http() as http:
        add_memory(gw, "ana likes jazz", "ana")
        body: dict[str, Any] = {"model": "m", "messages": ASK, "stream": stream}
        headers = {"X-Memoryd-User-Id": "ana"}
        ok = http.post("/v1/chat/completions", json=body, headers=headers)
        _failing(fake_llm, upstream)
        failed = http.post("/v1/chat/completions", json=body, headers=headers)
    assert ok.status_code == 200, ok.text
    assert failed.status_code == status, failed.text
    if code is not None:  # a relayed refusal keeps the upstream's own code
        assert failed.json()["error"]["code"] == code
    for name in MEMORY_HEADERS:
        assert name in failed.headers, (name, failed.headers)
    assert failed.headers["x-memoryd-memory"] == ok.headers["x-memoryd-memory"] == "injected"
    assert failed.headers["x-memoryd-memories-injected"] == ok.headers["x-memoryd-memories-injected"]
    assert failed.headers["x-memoryd-memory-tokens"] == ok.headers["x-memoryd-memory-tokens"]
    assert float(failed.headers["x-memoryd-memory-ms"]) > 0
    # A target is named only when one answered (its refusal relayed); none answered a 503.
    assert ("x-memoryd-target" in failed.headers) == (status == 400)


def test_an_error_without_a_user_says_passthrough(gateway: GatewayFactory, fake_llm: Script) -> None:
    """No user: no memory was looked up, and the error says so as an answer would."""
    fake_llm.fail(503)
    with gateway([[target(fake_llm, "m")]], llm={"max_attempts": 1}) as gw, gw.http() as http:
        failed = http.post("/v1/chat/completions", json={"model": "m", "messages": ASK})
    assert failed.status_code == 503, failed.text
    assert failed.headers["x-memoryd-memory"] == "passthrough"
    assert "x-memoryd-writeback" not in failed.headers


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("upstream", [503, 429, 401, 400])
def test_an_error_says_nothing_was_written_back(
    gateway: GatewayFactory, fake_llm: Script, stream: bool, upstream: int
) -> None:
    """Write-back on: an answer says ``on`` and its turn is stored; an error (nothing answered to
    store, a stream failing before its first chunk too) says ``skipped``, and nothing is stored."""
    fake_llm.default_text("jazz it is")
    with gateway([[target(fake_llm, "m")]], llm={"max_attempts": 1}) as gw, gw.http() as http:
        body: dict[str, Any] = {"model": "m", "messages": ASK, "stream": stream}
        headers = {"X-Memoryd-User-Id": "ana"}
        ok = http.post("/v1/chat/completions", json=body, headers=headers)
        after_ok, stored = gw.writebacks(), gw.memories("ana")
        _failing(fake_llm, upstream)
        failed = http.post("/v1/chat/completions", json=body, headers=headers)
        after_failed = gw.writebacks()
        assert gw.memories("ana") == stored  # nothing new in the store
    assert ok.status_code == 200 and failed.status_code >= 400, failed.text
    assert ok.headers["x-memoryd-writeback"] == "on"
    assert after_ok["scheduled"] == 1 and after_ok["stored"] == 1 and len(stored) == 2
    assert failed.headers["x-memoryd-writeback"] == "skipped"
    assert after_failed["scheduled"] == 1  # the failed call's turn was never queued


def test_an_error_with_write_back_off_says_off(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.fail(503)
    sections: dict[str, Any] = {"llm": {"max_attempts": 1}, "gateway": {"writeback": False}}
    with gateway([[target(fake_llm, "m")]], **sections) as gw, gw.http() as http:
        failed = http.post(
            "/v1/chat/completions", json={"model": "m", "messages": ASK}, headers={"X-Memoryd-User-Id": "ana"}
        )
    assert failed.status_code == 503, failed.text
    assert failed.headers["x-memoryd-writeback"] == "off"
