"""The upstream's id of a request reaches the client (``X-Memoryd-Upstream-Request-Id``).

A provider's support asks for the id it gave a request (OpenAI's ``x-request-id``,
Anthropic's ``request-id``). The gateway answered without it: a user with a strange answer,
or an upstream's 400 relayed to them, had nothing to quote. Each answer the upstream wrote —
plain, streamed, or a refusal of the request relayed as is — now carries it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, target

Q = [{"role": "user", "content": "hello"}]
HEADER = "x-memoryd-upstream-request-id"


def _post(gw: Any, body: dict[str, Any]) -> Any:
    with gw.http() as http:
        return http.post("/v1/chat/completions", json=body)


@pytest.mark.parametrize(("provider", "name"), [("custom", "x-request-id"), ("anthropic", "request-id")])
@pytest.mark.parametrize("stream", [False, True])
def test_the_upstreams_request_id_is_relayed(
    gateway: GatewayFactory, fake_llm: Script, provider: str, name: str, stream: bool
) -> None:
    fake_llm.reply_text("hi there", headers={name: "req_abc123"})
    with gateway([[target(fake_llm, "m", provider)]]) as gw:
        answered = _post(gw, {"model": "m", "messages": Q, "stream": stream})
    assert answered.status_code == 200, answered.text
    assert ("data: [DONE]" if stream else "hi there") in answered.text
    assert answered.headers[HEADER] == "req_abc123"


def test_a_relayed_refusal_carries_the_request_id(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.push(Reply(status=400, text=None, message="bad tool schema", headers={"x-request-id": "req_400"}))
    with gateway([[target(fake_llm, "m")]]) as gw:
        refused = _post(gw, {"model": "m", "messages": Q})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["message"] == "bad tool schema"
    assert refused.headers[HEADER] == "req_400"


def test_no_header_without_an_id_or_with_one_unfit_for_a_header(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.reply_text("one")
    fake_llm.reply_text("two", headers={"x-request-id": "x" * 500})
    with gateway([[target(fake_llm, "m")]]) as gw:
        plain, odd = (_post(gw, {"model": "m", "messages": Q}) for _ in range(2))
    assert plain.status_code == odd.status_code == 200
    assert HEADER not in plain.headers and HEADER not in odd.headers
