"""An upstream that is down, or none at all, as a new user first meets it over HTTP.

Each test failed on the code before its fix (found in a new-user walkthrough of the gateway):
the first 503 after an upstream went down had no ``Retry-After`` although its breaker had just
opened (only the next call said when to come back); a refused connection to a plain http://
upstream read "Cannot connect to host 127.0.0.1:PORT ssl:default"; with no LLM configured the
503 named the settings but not the environment variables the README's quick start sets.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import make_settings, running_server
from tests.gateway.conftest import GatewayFactory
from tests.llm.conftest import dead_url

Q = [{"role": "user", "content": "Tell me something."}]


def _down(model: str = "m") -> dict[str, str]:
    """A ``llm.tiers`` target on a loopback port where nothing listens (connection refused)."""
    return {"provider": "custom", "model": model, "base_url": dead_url(), "api_key": "sk-up-down"}


@pytest.mark.parametrize("stream", [False, True])
def test_the_first_503_after_an_upstream_goes_down_says_when_to_come_back(
    gateway: GatewayFactory, stream: bool
) -> None:
    llm = {"max_attempts": 3, "breaker_failures": 3, "breaker_cooldown_s": 600}
    body = {"model": "m", "messages": Q, "stream": stream}
    with gateway([[_down()]], llm=llm) as gw, gw.http() as http:
        first = http.post("/v1/chat/completions", json=body)  # its 3 attempts open the breaker
        second = http.post("/v1/chat/completions", json=body)  # finds it open
        [stats] = gw.app.state.gateway.router.stats()["targets"].values()
    assert (stats["calls"], stats["state"]) == (3, "open")
    assert first.status_code == 503 and first.json()["error"]["code"] == "upstream_unavailable"
    assert "circuit open" not in first.json()["error"]["message"]
    assert second.status_code == 503 and "circuit open" in second.json()["error"]["message"]
    # Both say the breaker's cool-down: the second, asked later, no later than the first.
    assert "retry-after" in first.headers, first.headers
    assert 1 <= int(second.headers["retry-after"]) <= int(first.headers["retry-after"]) <= 600
    assert int(first.headers["retry-after"]) > 300  # the cool-down, not a back-off's second


def test_a_refused_connection_says_so_naming_the_host_and_port(gateway: GatewayFactory) -> None:
    down = _down()
    where = urlsplit(down["base_url"]).netloc  # 127.0.0.1:PORT
    with gateway([[down]], llm={"max_attempts": 1}) as gw, gw.http() as http:
        answer = http.post("/v1/chat/completions", json={"model": "m", "messages": Q})
    assert answer.status_code == 503
    [failure] = answer.json()["error"]["failures"]
    assert f"could not connect to {where} (Connection refused)" in failure["error"], failure
    assert "ssl:" not in failure["error"] and "Cannot connect to host" not in failure["error"]


def test_no_upstream_names_the_settings_and_the_environment_variables_to_set(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    with (
        running_server(make_settings(tmp_path / "x.db"), embedder) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        down = c.post("/v1/chat/completions", json={"model": "m", "messages": Q})
    assert down.status_code == 503 and down.json()["error"]["code"] == "no_upstream"
    message = down.json()["error"]["message"]
    for name in ("llm.model", "MEMORYD_LLM_BASE_URL", "MEMORYD_LLM_API_KEY", "MEMORYD_LLM_MODEL"):
        assert name in message, message
    # Refused before any memory was looked up, like a 400 or a 404: no X-Memoryd-* header.
    assert not [h for h in down.headers if h.lower().startswith("x-memoryd-")], down.headers
