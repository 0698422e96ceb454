"""``/health`` → ``checks.gateway.counts``: every call counted, streamed ones under ``streams``."""

from __future__ import annotations

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, target


def test_health_counts_each_streamed_completion(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.default_text("fine, thanks")
    question = [{"role": "user", "content": "how are you?"}]
    with gateway([[target(fake_llm, "m")]]) as gw:
        client = gw.client()
        # Two streams through the SDK (one for a user, one passed through), one with a raw request.
        for user in ("ana", None):
            extra = {"user": user} if user else {}
            stream = client.chat.completions.create(model="m", messages=question, stream=True, **extra)
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "fine, thanks"
        with gw.http() as http:
            body = {"model": "m", "stream": True, "user": "ana", "messages": question}
            with http.stream("POST", "/v1/chat/completions", json=body) as r:
                assert r.status_code == 200 and b"data: [DONE]" in b"".join(r.iter_bytes())
            plain = http.post("/v1/chat/completions", json={**body, "stream": False})
            assert plain.status_code == 200, plain.text
        client.chat.completions.create(model="m", messages=question)  # not streamed
        counts = gw.get("/health")["checks"]["gateway"]["counts"]
    assert (counts["requests"], counts["streams"], counts["passthrough"]) == (5, 3, 2)
