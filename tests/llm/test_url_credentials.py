"""A ``user:password@`` in an LLM's or an embeddings server's ``base_url``: sent as HTTP Basic
auth alone; beside an API key sent as ``Authorization`` it is a configuration error naming the
setting, and a request aiohttp refuses to send is an LLMError, never a ValueError traceback."""

from __future__ import annotations

import base64

import pytest

from memoryd.cli.doctor import llm_checks
from memoryd.config import load_settings
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.errors import BackendUnavailableError, ConfigError, LLMError
from memoryd.llm import build_router
from memoryd.llm.http import translate_errors
from memoryd.llm.transport import HTTPClient
from memoryd.llm.types import Target
from tests.fakes.llm_server import Script
from tests.llm.conftest import KEY, dead_url


def _with_userinfo(url: str) -> str:
    return url.replace("http://", "http://proxyuser:Sup3rS3cret@")


def test_an_llm_base_url_with_a_password_and_an_api_key_is_refused_naming_the_setting() -> None:
    env = {"MEMORYD_LLM_BASE_URL": _with_userinfo(dead_url()), "MEMORYD_LLM_MODEL": "m", "MEMORYD_LLM_API_KEY": KEY}
    with pytest.raises(ConfigError) as caught:
        build_router(load_settings(env=env), env={})
    assert caught.value.field == "llm.base_url" and "llm.api_key" in caught.value.message
    assert "Sup3rS3cret" not in str(caught.value)
    tiers = f'[[{{"provider": "custom", "model": "a", "base_url": "{_with_userinfo(dead_url())}", "api_key": "k"}}]]'
    with pytest.raises(ConfigError) as caught:
        build_router(load_settings(env={"MEMORYD_LLM_TIERS": tiers}), env={})
    assert caught.value.field == "llm.tiers[0][0].base_url"
    # doctor: a failed check naming the setting, not a traceback
    (check,) = llm_checks(load_settings(env=env), env={})
    assert check.status == "fail" and check.fix is not None and "llm.base_url" in check.fix


def test_a_key_in_a_header_of_its_own_goes_beside_url_credentials() -> None:
    env = {
        "MEMORYD_LLM_PROVIDER": "anthropic",
        "MEMORYD_LLM_BASE_URL": _with_userinfo(dead_url()),
        "MEMORYD_LLM_MODEL": "m",
        "MEMORYD_LLM_API_KEY": KEY,
    }
    assert build_router(load_settings(env=env), env={}) is not None


def test_the_url_credentials_alone_are_sent_as_basic_auth(fake_llm: Script) -> None:
    env = {"MEMORYD_LLM_BASE_URL": _with_userinfo(fake_llm.base_url), "MEMORYD_LLM_MODEL": "m"}
    overall, _ = llm_checks(load_settings(env=env), env={})
    assert overall.status == "ok", overall
    expected = "Basic " + base64.b64encode(b"proxyuser:Sup3rS3cret").decode()
    assert fake_llm.last.headers["authorization"] == expected


async def test_a_request_aiohttp_will_not_send_is_an_llm_error() -> None:
    http = HTTPClient()
    target = Target(provider="custom", model="m", base_url=_with_userinfo(dead_url()), api_key="k")
    try:
        with pytest.raises(LLMError) as caught, translate_errors(target):
            await http.open(
                f"{target.base_url}/chat/completions", {}, headers={"Authorization": "Bearer k"}, timeout_s=2
            )
    finally:
        await http.aclose()
    assert "Sup3rS3cret" not in str(caught.value)


def test_the_embedder_refuses_url_credentials_beside_a_key_and_sends_them_alone(fake_llm: Script) -> None:
    url = _with_userinfo(fake_llm.base_url)
    with pytest.raises(ConfigError) as caught:
        OpenAIEmbedder(model="e", base_url=url, api_key=KEY, dim=8)
    assert caught.value.field == "embedder.base_url" and "Sup3rS3cret" not in str(caught.value)
    fake_llm.embedding_dim = 8
    embedder = OpenAIEmbedder(model="e", base_url=url, dim=8)
    try:
        embedder.embed(["hello"])
        expected = "Basic " + base64.b64encode(b"proxyuser:Sup3rS3cret").decode()
        assert fake_llm.last.headers["authorization"] == expected
    finally:
        embedder.close()
    down = OpenAIEmbedder(model="e", base_url=_with_userinfo(dead_url()), dim=8)
    try:
        with pytest.raises(BackendUnavailableError) as failed:
            down.embed(["hello"])
    finally:
        down.close()
    assert "Sup3rS3cret" not in str(failed.value) and "proxyuser:***@" in str(failed.value)
