"""Clients that leave before their answer: the upstream call is dropped and nothing is remembered."""

from __future__ import annotations

import time

import httpx
import pytest

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
