"""An upstream answering a chat call with a redirect (a moved endpoint, a proxy sending to a login
page), found in a review of the gateway against a misbehaving upstream.

LLM calls follow no redirect (its server would get the vendor's key and the user's messages). The
gateway, before the fix, then read the redirect's empty body as an answer: a plain call failed as
"the reply is not JSON", a streamed one as "the stream ended before its first chunk", both a 503
"upstream_unavailable" that invites a retry, and nothing said to set ``base_url``. Now each is named
as fine mode names it (the status and where it points, and that ``base_url`` is to be set there),
answered 502 with ``x-should-retry: false``, and the redirect is still not followed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, key, target

ASK = [{"role": "user", "content": "Which music do I like?"}]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_named_and_answered_502_not_followed(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Callable[[], Script], stream: bool, status: int
) -> None:
    elsewhere = fake_llm_factory()
    moved = f"{elsewhere.base_url}/chat/completions"
    fake_llm.default(Reply(status=status, raw="", headers={"location": moved}))
    with gateway([[target(fake_llm, "m1")]]) as gw, gw.http() as http:
        body = {"model": "m1", "user": "ana", "messages": ASK, "stream": stream}
        r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 502, r.text
    assert r.headers["x-should-retry"] == "false"
    error = r.json()["error"]
    assert error["code"] == "upstream_redirected"
    assert f"HTTP {status}: the server redirects to {moved}" in error["message"], error
    assert "set base_url to where it points" in error["message"]
    assert "not JSON" not in error["message"] and "first chunk" not in error["message"]
    assert len(fake_llm.requests) == 1  # not asked again: a redirect is no outage a retry passes
    assert elsewhere.requests == []  # neither the key nor the messages went where it points


def test_a_user_key_is_told_of_the_redirect_without_the_upstream_address(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.default(Reply(status=307, raw="", headers={"location": "https://moved.example/v1/chat"}))
    with gateway([[target(fake_llm, "m1")]]) as gw:
        user_key = key(gw.settings, "user", user_id="ana")
        with gw.http(user_key) as http:
            r = http.post("/v1/chat/completions", json={"model": "m1", "messages": ASK})
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert error["code"] == "upstream_redirected" and "redirect" in error["message"]
    assert "127.0.0.1" not in r.text and "moved.example" not in r.text
