"""The edges of the OpenAI surface: big bodies, refusals in OpenAI's shape, routes the gateway does
not serve, and upstreams that refuse memoryd itself (a bad key, a model they do not have).

Each test failed on the code before its fix (found in a review of the gateway).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import openai
import pytest

from memoryd.errors import InvalidInputError
from memoryd.gateway.routes import _check
from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, GatewayServer, key, target


def _image_body(image_chars: int, text: str = "what is this") -> dict[str, Any]:
    url = "data:image/jpeg;base64," + "A" * image_chars
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": "m", "messages": [{"role": "user", "content": parts}]}


def test_the_gateway_routes_import_first() -> None:
    """As a script checking a body imports them: before memoryd.server (a cycle once broke it)."""
    done = subprocess.run(
        [sys.executable, "-c", "import memoryd.gateway.routes"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _python_steps(body: dict[str, Any]) -> int:
    """Function calls and generator steps (Python's and C's) made checking ``body``."""
    steps = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal steps
        steps += 1

    sys.setprofile(count)
    try:
        _check(body)
    finally:
        sys.setprofile(None)
    return steps


def test_the_lone_surrogate_check_does_not_walk_a_long_text_character_by_character() -> None:
    # A 4.9 MB image held the event loop for 250 ms: a Python step per character.
    assert _python_steps(_image_body(1_000_000)) == _python_steps(_image_body(10))
    big = _image_body(5_000_000, "ça va? 🐕")
    assert _check(big) is big  # 5 MB, non-ASCII text: fine
    big["messages"][0]["content"][0]["text"] = "ça va? \ud83d"
    with pytest.raises(InvalidInputError) as bad:
        _check(big)
    assert bad.value.field == "messages[0].content[0].text"


def _openai_shaped(error: Any, code: str) -> None:
    assert isinstance(error, dict) and set(error) >= {"message", "type", "param", "code"}, error
    assert error["type"] == "invalid_request_error" and error["code"] == code, error


# aiohttp warns when it sends a body over 1 MiB from bytes (memoryd/llm/transport.py); Python
# ignores a ResourceWarning outside tests, and the body is sent whole.
@pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")
def test_a_6_mb_image_is_served_and_only_a_body_over_the_gateways_own_limit_is_refused(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # The 5 MiB limit of memoryd's API refused a 6 MB image, in memoryd's error shape.
    fake_llm.default_text("A photo of a dog.")
    with gateway([[target(fake_llm, "m")]]) as gw:
        client = gw.client()
        answer = client.chat.completions.create(**_image_body(6_000_000))
        assert answer.choices[0].message.content == "A photo of a dog."
        assert len(json.dumps(fake_llm.last.json)) > 6_000_000  # the image went upstream whole
        said = [{"role": "user", "content": "x" * 6_000_000}]
        with gw.http() as http:  # memoryd's own routes keep limits.max_body_bytes
            r = http.post("/v1/memories", json={"user_id": "ana", "messages": said})
        assert r.status_code == 413 and r.json()["error"] == {
            "code": "payload_too_large", "message": "the request body is over the limit of 5242880 bytes",
            "field": "body", "details": {"limit_bytes": 5242880},
        }  # fmt: skip
    small = {"max_body_bytes": 2 * 1024 * 1024}
    with gateway([[target(fake_llm, "m")]], gateway=small) as gw, pytest.raises(openai.APIStatusError) as refused:
        gw.client().chat.completions.create(**_image_body(3_000_000))
    assert refused.value.status_code == 413
    _openai_shaped(refused.value.body, "payload_too_large")
    assert "2097152 bytes" in refused.value.message
    assert len(fake_llm.requests) == 1  # the refused body never went upstream


def test_a_wrong_method_and_a_body_not_utf8_are_refused_in_openais_shape(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        wrong = http.get("/v1/chat/completions")
        latin1 = http.post(
            "/v1/chat/completions",
            content=b'{"model": "m", "messages": [{"role": "user", "content": "caf\xe9"}]}',
            headers={"content-type": "application/json"},
        )
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    _openai_shaped(wrong.json()["error"], "method_not_allowed")
    assert latin1.status_code == 400
    _openai_shaped(latin1.json()["error"], "invalid_body")
    assert latin1.json()["error"]["param"] == "body" and fake_llm.requests == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/embeddings"), ("POST", "/v1/completions"), ("POST", "/v1/responses"),
     ("POST", "/v1/audio/transcriptions"), ("GET", "/v1/files"), ("GET", "/v1/chat/completions/chatcmpl-1")],
)  # fmt: skip
def test_the_rest_of_openais_api_is_a_404_in_openais_shape_that_says_what_is_served(
    gateway: GatewayFactory, fake_llm: Script, method: str, path: str
) -> None:
    # An app pointing embeddings at the same base_url got {"error": {"code": "not_found",
    # "message": "no route POST /v1/embeddings"}}: no type, no hint.
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        r = http.request(method, path, json={"model": "m", "input": "hi"} if method == "POST" else None)
        unknown_key = http.post(path, headers={"Authorization": "Bearer mdk_wrong"})
        own = http.get("/v1/memorie")  # a typo on memoryd's own API keeps memoryd's shape
    assert r.status_code == 404
    error = r.json()["error"]
    _openai_shaped(error, "unsupported_endpoint")
    assert f"not {method} {path}" in error["message"]
    assert "POST /v1/chat/completions and GET /v1/models" in error["message"]
    assert unknown_key.status_code == 401 and unknown_key.json()["error"]["type"] == "authentication_error"
    assert own.status_code == 404 and own.json()["error"] == {
        "code": "not_found", "message": "no route GET /v1/memorie"
    }  # fmt: skip
    assert fake_llm.requests == []


def test_the_embeddings_call_of_an_sdk_pointed_at_the_gateway_raises_not_found(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    with gateway([[target(fake_llm, "m")]]) as gw, pytest.raises(openai.NotFoundError) as missing:
        gw.client().embeddings.create(model="text-embedding-3-small", input="hi")
    assert "serves POST /v1/chat/completions" in missing.value.message


def test_the_chat_route_with_a_trailing_slash_is_served(gateway: GatewayFactory, fake_llm: Script) -> None:
    # It was a 307 with an empty body.
    fake_llm.default_text("hello")
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        r = http.post("/v1/chat/completions/", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        wrong = http.get("/v1/chat/completions/")
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "hello"
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    _openai_shaped(wrong.json()["error"], "method_not_allowed")


def _sdk(gw: GatewayServer, api_key: str | None = None) -> openai.OpenAI:
    """An SDK client that retries as the SDK does by default (twice): a retry reaches the upstream."""
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=api_key or gw.key, max_retries=2)
    gw.clients.append(client)
    return client


def _upstream_error(message: str, type_: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


BAD_KEY = _upstream_error("Incorrect API key provided: sk-up-***", "invalid_request_error", "invalid_api_key")
NO_MODEL = _upstream_error("The model `m` does not exist", "invalid_request_error", "model_not_found")
NO_QUOTA = _upstream_error("You exceeded your current quota, please check your plan and billing details.",
                           "insufficient_quota", "insufficient_quota")  # fmt: skip
Q = [{"role": "user", "content": "hello"}]


def test_upstreams_refusing_memoryds_key_are_a_502_no_sdk_retries_not_an_outage(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    # It was a 503 upstream_unavailable, which the SDK retries: a bad key looked like an outage.
    second = fake_llm_factory()
    fake_llm.default(Reply(status=401, body=BAD_KEY))
    second.default(Reply(status=403, body=BAD_KEY))
    tiers = [[target(fake_llm, "m")], [target(second, "n")]]
    with gateway(tiers, llm={"max_attempts": 4}) as gw:
        with pytest.raises(openai.InternalServerError) as refused:
            _sdk(gw).chat.completions.create(model="m", messages=Q)  # type: ignore[arg-type]
        assert (len(fake_llm.requests), len(second.requests)) == (1, 1)  # one per target, not retried
        with gw.http() as http:
            streamed = http.post("/v1/chat/completions", json={"model": "m", "messages": Q, "stream": True})
        labels = [t.label for t in gw.app.state.gateway.router.targets]
    assert refused.value.status_code == 502 and refused.value.response.headers["x-should-retry"] == "false"
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "upstream_auth_failed" and error["type"] == "server_error"
    assert [f["target"] for f in error["failures"]] == labels and "HTTP 401" in error["message"]
    assert streamed.status_code == 502 and streamed.json()["error"]["code"] == "upstream_auth_failed"


def test_a_key_refused_until_the_breaker_opens_is_still_a_502_and_a_user_key_hears_no_details(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.default(Reply(status=401, body=BAD_KEY))
    with gateway([[target(fake_llm, "m")]], llm={"breaker_failures": 1, "breaker_cooldown_s": 600}) as gw:
        user_key = key(gw.settings, "user", user_id="ana")
        answers = []
        for _ in range(2):  # the first opens the breaker; the second finds it open
            with pytest.raises(openai.InternalServerError) as refused:
                _sdk(gw, user_key).chat.completions.create(model="m", messages=Q)  # type: ignore[arg-type]
            answers.append(refused.value)
    assert len(fake_llm.requests) == 1
    for answer in answers:
        assert answer.status_code == 502 and "retry-after" not in answer.response.headers
        assert answer.body == {
            "message": "the upstream LLM refused memoryd's API key", "type": "server_error", "param": None,
            "code": "upstream_auth_failed",
        }  # fmt: skip


def test_a_model_the_upstream_lacks_is_a_502_and_a_spent_quota_a_429_without_retry_after(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.push(Reply(status=404, body=NO_MODEL))
    fake_llm.push(Reply(status=429, body=NO_QUOTA))
    with gateway([[target(fake_llm, "m")]], llm={"max_attempts": 4}) as gw:
        client = _sdk(gw)
        with pytest.raises(openai.InternalServerError) as missing:
            client.chat.completions.create(model="m", messages=Q)  # type: ignore[arg-type]
        assert len(fake_llm.requests) == 1
        with pytest.raises(openai.RateLimitError) as spent:
            client.chat.completions.create(model="m", messages=Q)  # type: ignore[arg-type]
        assert len(fake_llm.requests) == 2
    assert missing.value.status_code == 502
    assert isinstance(missing.value.body, dict) and missing.value.body["code"] == "upstream_model_not_found"
    assert spent.value.status_code == 429 and "retry-after" not in spent.value.response.headers
    assert isinstance(spent.value.body, dict) and spent.value.body["code"] == "insufficient_quota"
    assert spent.value.body["type"] == "insufficient_quota"


def test_a_rate_limit_that_mentions_a_quota_is_busy_not_a_spent_quota(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # Gemini's per-minute limit says "check quota": it was a 429 insufficient_quota, no retry, no
    # Retry-After, although it clears in seconds.
    gemini = _upstream_error("Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED", "429")
    fake_llm.default(Reply(status=429, body=gemini, headers={"Retry-After": "7"}))
    with gateway([[target(fake_llm, "m")]], llm={"max_attempts": 1}) as gw, gw.http() as http:
        busy = http.post("/v1/chat/completions", json={"model": "m", "messages": Q})
    assert busy.status_code == 429 and busy.headers.get("retry-after") == "7", busy.text
    assert busy.headers.get("x-should-retry") != "false"
    assert busy.json()["error"]["code"] == "rate_limit_exceeded"
