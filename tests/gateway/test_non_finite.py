"""A request holding NaN or Infinity (Python's parser takes them; JSON has none) is a 400 naming where."""

from __future__ import annotations

import pytest

from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, target

ASK = '{"model": "m", "messages": [{"role": "user", "content": "hi"}], '


@pytest.mark.parametrize(
    ("tail", "where"),
    [
        ('"temperature": NaN}', "temperature"),
        ('"temperature": Infinity}', "temperature"),
        ('"top_p": -Infinity}', "top_p"),
        ('"frequency_penalty": 1e999}', "frequency_penalty"),  # too large for a float: infinite
        ('"logit_bias": {"50256": NaN}}', "logit_bias.50256"),
        ('"tools": [{"type": "function", "function": {"name": "f", "parameters": {"maximum": Infinity}}}]}',
         "tools[0].function.parameters.maximum"),
    ],
)  # fmt: skip
def test_a_non_finite_number_is_a_400_naming_the_field_and_nothing_is_sent(
    gateway: GatewayFactory, fake_llm: Script, tail: str, where: str
) -> None:
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        for stream in ("", '"stream": true, '):
            raw = ASK + stream + tail
            r = http.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert error["type"] == "invalid_request_error" and error["param"] == where, error
            assert where in error["message"] and "finite" in error["message"]
    assert fake_llm.requests == []


def test_finite_numbers_go_through_as_sent(gateway: GatewayFactory, fake_llm: Script) -> None:
    raw = ASK + '"temperature": 0.7, "top_p": 1e-3, "max_tokens": 5}'
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        r = http.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert fake_llm.last.json["temperature"] == 0.7 and fake_llm.last.json["top_p"] == 1e-3
