"""An upstream that answers 200 with an error object says why; the client's 503 says it too.

Before the fix a ``{"error": {"message": "model overloaded"}}`` answered with status 200 (as some
OpenAI-compatible servers and proxies do) reached the client as "the reply has no choices", and,
to a streamed request (a JSON body, not an event stream), as "the stream ended before its first
chunk": the upstream's own words were dropped. Now the 503 quotes them, plain or streamed, and a
JSON body answering a streamed request is named as such.
"""

from __future__ import annotations

import pytest

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, target

ASK = [{"role": "user", "content": "Which music do I like?"}]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_error_object_answered_with_200_is_quoted_in_the_503(
    gateway: GatewayFactory, fake_llm: Script, stream: bool
) -> None:
    fake_llm.reply_body({"error": {"message": "model overloaded", "type": "server_error"}}, times=4)
    with gateway([[target(fake_llm, "m1")]]) as gw, gw.http() as http:
        body = {"model": "m1", "user": "ana", "messages": ASK, "stream": stream}
        r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["code"] == "upstream_unavailable"
    assert "model overloaded" in error["message"]
    assert all("model overloaded" in f["error"] for f in error["failures"])


def test_a_json_completion_answering_a_stream_is_named(gateway: GatewayFactory, fake_llm: Script) -> None:
    whole = {
        "id": "c", "object": "chat.completion", "created": 1, "model": "m1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "jazz"}, "finish_reason": "stop"}],
    }  # fmt: skip
    fake_llm.reply_body(whole, times=4)
    with gateway([[target(fake_llm, "m1")]]) as gw, gw.http() as http:
        body = {"model": "m1", "user": "ana", "messages": ASK, "stream": True}
        r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 503, r.text
    assert "not an event stream" in r.json()["error"]["message"]
