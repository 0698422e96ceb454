"""The [llm] settings: env aliases, tiers, key fallback and masking, and build_router."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd.config import env_key, load_settings
from memoryd.errors import ConfigError
from memoryd.llm import build_router
from tests.llm.conftest import KEY


def test_not_configured_by_default() -> None:
    settings = load_settings(env={})
    assert not settings.llm.configured and build_router(settings, env={}) is None
    assert settings.llm.provider == "openai" and settings.llm.tiers == []


@pytest.mark.parametrize("sep", ["_", "__"])
def test_the_three_variables_of_the_issue_in_both_spellings(sep: str) -> None:
    env = {
        f"MEMORYD_LLM{sep}BASE_URL": "http://127.0.0.1:9/v1",
        f"MEMORYD_LLM{sep}API_KEY": KEY,
        f"MEMORYD_LLM{sep}MODEL": "qwen2.5:7b",
    }
    settings = load_settings(env=env)
    llm = settings.llm
    assert llm.configured and llm.model == "qwen2.5:7b" and llm.base_url == "http://127.0.0.1:9/v1"
    assert llm.api_key is not None and llm.api_key.get_secret_value() == KEY
    router = build_router(settings, env={})
    assert router is not None
    (t,) = router.targets
    assert (t.provider, t.model, t.base_url, t.api_key) == (
        "openai",
        "qwen2.5:7b",
        "http://127.0.0.1:9/v1",
        KEY,
    )


def test_alias_rule_for_every_section_and_precedence() -> None:
    settings = load_settings(env={"MEMORYD_SERVER_PORT": "9001", "MEMORYD_STORAGE_READ_THREADS": "3"})
    assert settings.server.port == 9001 and settings.storage.read_threads == 3
    both = load_settings(env={"MEMORYD_LLM_MODEL": "alias", "MEMORYD_LLM__MODEL": "canonical"})
    assert both.llm.model == "canonical"
    assert env_key("MEMORYD_LLM_BASE_URL") == "llm.base_url"
    assert env_key("MEMORYD_LLM__BASE_URL") == "llm.base_url"
    assert env_key("MEMORYD_CONFIG") is None and env_key("HOME") is None


def test_unknown_keys_still_name_the_allowed_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown setting 'llm.modle'.*allowed: api_key, api_version, base_url"
    ):
        load_settings(env={"MEMORYD_LLM_MODLE": "x"})
    with pytest.raises(ConfigError, match="unknown setting 'llm.modle'"):
        load_settings(env={"MEMORYD_LLM__MODLE": "x"})
    with pytest.raises(ConfigError, match="unknown setting 'nosection_key'"):
        load_settings(env={"MEMORYD_NOSECTION_KEY": "x"})


def test_unknown_provider_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"llm.provider.*unknown LLM provider 'opnai'.*anthropic.*deepseek"):
        load_settings(env={"MEMORYD_LLM_PROVIDER": "opnai"})
    assert load_settings(env={"MEMORYD_LLM_PROVIDER": "qwen"}).llm.provider == "dashscope"


def test_tiers_in_toml(tmp_path: Path) -> None:
    f = tmp_path / "m.toml"
    f.write_text(
        """
[llm]
max_attempts = 4
breaker_failures = 2
tiers = [
  [{ provider = "ollama", model = "qwen2.5:7b", timeout_s = 5 }],
  [{ provider = "deepseek", api_key = "sk-deepseek-key-123456" }, { provider = "openai", model = "gpt-4o-mini" }],
]
"""
    )
    settings = load_settings(f, env={})
    assert settings.llm.configured
    router = build_router(settings, env={"OPENAI_API_KEY": "sk-from-env-0000000000"})
    assert router is not None and router.max_attempts == 4
    (ollama,), (deepseek, openai) = router.tiers
    assert (ollama.base_url, ollama.timeout_s, ollama.api_key) == ("http://localhost:11434/v1", 5, None)
    assert (deepseek.model, deepseek.base_url, deepseek.api_key) == (
        "deepseek-chat",
        "https://api.deepseek.com/v1",
        "sk-deepseek-key-123456",
    )
    assert openai.api_key == "sk-from-env-0000000000" and openai.timeout_s == 30.0
    shown = str(settings.redacted())
    assert "sk-deepseek-key-123456" not in shown and "'api_key': '***'" in shown


def test_tiers_from_the_environment_as_json() -> None:
    env = {"MEMORYD_LLM_TIERS": '[[{"provider": "ollama"}], {"provider": "anthropic"}]'}
    settings = load_settings(env=env)
    router = build_router(settings, env={"ANTHROPIC_API_KEY": "anthropic-key"})
    assert router is not None
    assert [[t.provider for t in tier] for tier in router.tiers] == [["ollama"], ["anthropic"]]
    assert router.tiers[1][0].api_key == "anthropic-key" and router.tiers[1][0].model == "claude-haiku-4-5"
    with pytest.raises(ConfigError, match="llm.tiers.*JSON list"):
        load_settings(env={"MEMORYD_LLM_TIERS": "not json"})
    with pytest.raises(ConfigError, match="unknown key 'modle' in an llm.tiers target; allowed: api_key"):
        load_settings(env={"MEMORYD_LLM_TIERS": '[[{"modle": "x"}]]'})


def test_vendor_env_keys_are_only_sent_to_the_vendors_own_url() -> None:
    env = {"OPENAI_API_KEY": "sk-openai-env-00000000"}
    own = build_router(load_settings(env={"MEMORYD_LLM_MODEL": "gpt-4o-mini"}), env=env)
    assert own is not None and own.targets[0].api_key == "sk-openai-env-00000000"
    other = build_router(load_settings(env={"MEMORYD_LLM_BASE_URL": "http://elsewhere:8000/v1"}), env=env)
    assert other is not None and other.targets[0].api_key is None
    azure = load_settings(
        env={
            "MEMORYD_LLM_PROVIDER": "azure",
            "MEMORYD_LLM_BASE_URL": "https://r.openai.azure.com",
            "MEMORYD_LLM_MODEL": "d",
        }
    )
    router = build_router(azure, env={"AZURE_OPENAI_API_KEY": "azure-key"})
    assert router is not None and router.targets[0].api_key == "azure-key"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"MEMORYD_LLM_PROVIDER": "vllm", "MEMORYD_LLM_BASE_URL": "http://h:8000/v1"}, "set llm.model"),
        ({"MEMORYD_LLM_PROVIDER": "custom", "MEMORYD_LLM_MODEL": "m"}, "needs a base_url"),
        ({"MEMORYD_LLM_PROVIDER": "azure", "MEMORYD_LLM_MODEL": "m"}, "needs a base_url"),
    ],
)
def test_missing_model_or_url_is_a_config_error(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        build_router(load_settings(env=env), env={})


def test_empty_strings_mean_unset() -> None:
    settings = load_settings(env={"MEMORYD_LLM_MODEL": "", "MEMORYD_LLM_BASE_URL": ""})
    assert not settings.llm.configured


def test_config_show_masks_the_key_and_names_the_alias(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from memoryd.cli import app

    env = {
        "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"),
        "MEMORYD_LLM_API_KEY": KEY,
        "MEMORYD_LLM_MODEL": "gpt-4o-mini",
        "MEMORYD_LLM__TIERS": '[[{"provider": "openai", "api_key": "sk-tier-secret-999999"}]]',
    }
    result = CliRunner().invoke(app, ["config", "show", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert KEY not in result.output and "sk-tier-secret-999999" not in result.output
    import json

    doc = json.loads(result.stdout)
    assert doc["settings"]["llm"]["api_key"] == "***"
    assert doc["sources"]["llm.model"] == "env MEMORYD_LLM_MODEL"


def test_config_show_masks_the_password_of_a_base_url(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from memoryd.cli import app

    env = {
        "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"),
        "MEMORYD_LLM_MODEL": "gpt-4o-mini",
        "MEMORYD_LLM_BASE_URL": "http://proxyuser:Sup3rS3cretPw@proxy.local:8080/v1",
        "MEMORYD_LLM__TIERS": '[[{"provider": "custom", "model": "m", "base_url": "https://tok3nS3cret@llm.local/v1"}]]',
    }
    result = CliRunner().invoke(app, ["config", "show", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert "Sup3rS3cretPw" not in result.output and "tok3nS3cret" not in result.output
    llm = json.loads(result.stdout)["settings"]["llm"]
    assert llm["base_url"] == "http://proxyuser:***@proxy.local:8080/v1"
    assert llm["tiers"][0][0]["base_url"] == "https://***@llm.local/v1"
    router = build_router(load_settings(env=env), env={})
    assert router is not None and router.targets[0].label == "custom:m@llm.local"
    assert "tok3nS3cret" not in json.dumps(router.stats())


def test_config_show_masks_keys_given_as_query_parameters(tmp_path: Path) -> None:
    """Gemini's ?key= and Azure's ?api-key= were printed as given (only password, token, api_key and
    secret parameters were masked), and so were an Azure Function's ?code= and a gateway's ?auth=."""
    import json

    from typer.testing import CliRunner

    from memoryd.cli import app

    url = (
        "https://llm.internal/v1?key=QUERYKEY-s3cr3t&api-key=AZKEY-s3cr3t&access_token=AT-s3cr3t&v=2024"
        "&code=FUNCKEY-s3cr3t&auth=GW-s3cr3t"
    )
    env = {"MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"), "MEMORYD_LLM_MODEL": "m", "MEMORYD_LLM_BASE_URL": url}
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        assert "s3cr3t" not in result.output
    shown = json.loads(result.stdout)["settings"]["llm"]["base_url"]
    assert shown == "https://llm.internal/v1?key=***&api-key=***&access_token=***&v=2024&code=***&auth=***"
