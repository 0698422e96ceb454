"""``memoryd doctor``'s fix for an embedder or an LLM answering 401 names the key variable actually
sent to that URL, or says that none is.

A vendor's key variable (OPENAI_API_KEY, DASHSCOPE_API_KEY, AZURE_OPENAI_API_KEY, ...) goes only to
that vendor's own servers. The LLM's hint named the vendor's variables for any URL (a key that was
never sent to the server refusing it); the embedder's named $OPENAI_API_KEY only for OpenAI's
default URL exactly, never DashScope's or Azure's variable, nor OpenAI's for its address alone.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from memoryd.cli.doctor import embedder_check, llm_checks
from memoryd.cli.key_hint import embedder_key_fix
from memoryd.config import EmbedderConfig, load_settings
from tests.fakes.llm_server import Script

KEY = "sk-from-the-environment-0000"


@pytest.mark.parametrize(("provider", "variable"), [("openai", "OPENAI_API_KEY"), ("dashscope", "DASHSCOPE_API_KEY")])
def test_an_llm_not_the_vendors_own_server_is_said_to_get_no_variable(
    fake_llm: Script, provider: str, variable: str
) -> None:
    fake_llm.fail(401, message="invalid key")
    env = {"MEMORYD_LLM_PROVIDER": provider, "MEMORYD_LLM_BASE_URL": fake_llm.base_url, "MEMORYD_LLM_MODEL": "m"}
    overall, target = llm_checks(load_settings(env=env), env={variable: KEY})
    assert target.status == "fail" and "401" in target.detail
    assert target.fix is not None and f"${variable}" not in target.fix, target.fix  # it was never sent there
    assert target.fix.startswith("check the API key: llm.api_key (MEMORYD_LLM_API_KEY); none is set")
    assert f"no vendor's key variable is sent to {fake_llm.base_url}" in target.fix


def test_an_llm_sent_a_variables_key_names_that_variable(fake_llm: Script) -> None:
    fake_llm.fail(401, message="invalid key")
    resource = fake_llm.base_url.removesuffix("/v1")  # Azure's route: {resource}/openai/deployments/m/...
    env = {"MEMORYD_LLM_PROVIDER": "azure", "MEMORYD_LLM_BASE_URL": resource, "MEMORYD_LLM_MODEL": "m"}
    overall, target = llm_checks(load_settings(env=env), env={"AZURE_OPENAI_API_KEY": KEY})  # Azure: any URL
    assert target.status == "fail" and target.fix is not None
    assert target.fix.startswith("check the API key: $AZURE_OPENAI_API_KEY (the key sent to"), target.fix


def test_an_embeddings_server_not_a_vendors_own_is_said_to_get_no_variable(
    fake_llm: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_llm.fail(401, message="invalid key")
    section = {"provider": "openai", "model": "m", "base_url": fake_llm.base_url}
    check, embedder = embedder_check(load_settings(env={}, overrides={"embedder": section}))
    assert check.status == "fail" and embedder is None and check.fix is not None
    assert "$OPENAI_API_KEY" not in check.fix, check.fix
    assert check.fix.startswith("check the API key: embedder.api_key (MEMORYD_EMBEDDER__API_KEY); none is set")
    assert "no vendor's key variable is sent to http://127.0.0.1" in check.fix


@pytest.mark.parametrize(
    ("base_url", "env", "fix"),
    [
        ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", {"DASHSCOPE_API_KEY": KEY},
         "check the API key: $DASHSCOPE_API_KEY (the key sent to https://dashscope-intl.aliyuncs.com"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", {"OPENAI_API_KEY": KEY},
         "check the API key: embedder.api_key (MEMORYD_EMBEDDER__API_KEY) or $DASHSCOPE_API_KEY; none is set"),
        ("https://api.openai.com", {"OPENAI_API_KEY": KEY},  # OpenAI's address alone: its /v1 added
         "check the API key: $OPENAI_API_KEY (the key sent to https://api.openai.com/v1)"),
        ("https://res.openai.azure.com/", {"AZURE_OPENAI_API_KEY": KEY, "OPENAI_API_KEY": KEY},
         "check the API key: $AZURE_OPENAI_API_KEY (the key sent to https://res.openai.azure.com)"),
        ("https://gateway.example.com/openai/deployments/m", {"AZURE_OPENAI_API_KEY": KEY},  # not Azure's
         "check the API key: embedder.api_key (MEMORYD_EMBEDDER__API_KEY); none is set (no vendor's key "
         "variable is sent to https://gateway.example.com)"),
    ],
)  # fmt: skip
def test_an_embedder_on_a_vendors_own_server_names_that_vendors_variable(
    base_url: str, env: dict[str, str], fix: str
) -> None:
    # these servers are not reachable from the tests: the fix doctor gives on their 401, for their URL
    cfg = EmbedderConfig(provider="openai", model="m", base_url=base_url)
    assert embedder_key_fix(cfg, env).startswith(fix), embedder_key_fix(cfg, env)


def test_a_key_in_the_settings_is_the_one_to_check() -> None:
    cfg = EmbedderConfig(provider="openai", model="m", api_key=SecretStr("sk-set"))
    fix = embedder_key_fix(cfg, {"OPENAI_API_KEY": KEY})
    assert fix == "check the API key: embedder.api_key (MEMORYD_EMBEDDER__API_KEY)"
