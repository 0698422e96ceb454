"""The dropped-memory retry after a no-answer goes only to the targets that refused the length.

When the model asked for did not answer (no answer within ``gateway.answer_timeout_s``: it may have
been generated, and billed, so it is never sent the same call again) and a fallback with a smaller
window refused the call for its length, the whole route was tried again without the memory: the
target that had timed out was sent the call a second time (billed twice, and waited for twice as
long). Now the retry goes to the targets whose refusal was for the length, the ones the memory
made fail; the others' verdicts of the first try stand.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, add_memory, target
from tests.gateway.test_window_overflow import ASK, FACT, TOO_LONG, _refusing_memory, _said, _with_memory


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_target_that_did_not_answer_is_not_sent_the_call_again_without_memory(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Callable[[], Script], stream: bool
) -> None:
    slow = fake_llm_factory()
    slow.default(Reply(text="late", delay=3.0))  # past answer_timeout_s: no answer
    fake_llm.default(Reply(respond=_refusing_memory(TOO_LONG["openai"])))
    tiers = [[target(slow, "big")], [target(fake_llm, "small")]]
    with gateway(tiers, llm={"max_attempts": 4}, gateway={"answer_timeout_s": 1.0}) as gw:
        add_memory(gw, FACT, "ana")
        with gw.http() as http:
            body = {"model": "big", "user": "ana", "messages": ASK, "stream": stream}
            r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert _said(r, stream) == "Biscuit." and r.headers["x-memoryd-memory"] == "dropped"
    assert len(slow.requests) == 1  # sent once: it may have answered, and billed, though too late
    assert [_with_memory(q.json) for q in fake_llm.requests] == [True, False]
