"""The edges of the OpenAI surface: big bodies, refusals in OpenAI's shape, routes the gateway does
not serve, and upstreams that refuse memoryd itself (a bad key, a model they do not have).

Each test failed on the code before its fix (found in a review of the gateway).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import openai
import pytest

from memoryd.errors import InvalidInputError
from memoryd.gateway.routes import _check
from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, target


def _image_body(image_chars: int, text: str = "what is this") -> dict[str, Any]:
    url = "data:image/jpeg;base64," + "A" * image_chars
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": "m", "messages": [{"role": "user", "content": parts}]}


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
