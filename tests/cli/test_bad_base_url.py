"""A base URL that urllib cannot split (``http://[::1`` with its bracket left open, a port that is
no number) ended ``memoryd doctor`` and ``memoryd add --mode fine`` in a Python traceback
(``ValueError: Invalid IPv6 URL``) when it was ``llm.base_url``, and the embedder check blamed the
server when it was ``embedder.base_url``. Now each is refused when the settings load, naming the
setting and its variable."""

from __future__ import annotations

import pytest

from memoryd.config import load_settings
from memoryd.errors import ConfigError
from tests.cli.conftest import Run, as_json, expect_error

BAD = ["http://[::1", "http://[::1/v1", "http://host:port/v1", "http://host:99999/v1"]
SETTINGS = {
    "MEMORYD_LLM__BASE_URL": "llm.base_url",
    "MEMORYD_EMBEDDER__BASE_URL": "embedder.base_url",
}


@pytest.mark.parametrize("url", BAD)
@pytest.mark.parametrize("variable", sorted(SETTINGS))
def test_doctor_names_the_setting_without_a_traceback(run: Run, variable: str, url: str) -> None:
    result = run("doctor", "--json", env={variable: url, "MEMORYD_LLM__MODEL": "m", "MEMORYD_EMBEDDER__MODEL": "m"})
    assert result.exit_code == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    config = next(c for c in as_json(result)["checks"] if c["name"] == "config")
    assert config["status"] == "fail" and SETTINGS[variable] in config["detail"], config


def test_add_in_fine_mode_is_one_line(run: Run) -> None:
    result = run("add", "hello", "-u", "ana", "--mode", "fine", env={"MEMORYD_LLM__BASE_URL": "http://[::1"})
    expect_error(result, 2, "llm.base_url", "MEMORYD_LLM__BASE_URL")


def test_a_tier_target_is_checked_too() -> None:
    tiers = '[[{"provider": "openai", "model": "m", "base_url": "http://[::1"}]]'
    with pytest.raises(ConfigError) as err:
        load_settings(env={"MEMORYD_LLM__TIERS": tiers})
    assert err.value.field == "llm.tiers.0.0.base_url", err.value


@pytest.mark.parametrize("url", ["http://localhost:11434", "https://api.openai.com/v1", "http://[::1]:8000/v1"])
def test_urls_still_load(url: str) -> None:
    settings = load_settings(env={"MEMORYD_LLM__BASE_URL": url, "MEMORYD_EMBEDDER__BASE_URL": url})
    assert settings.llm.base_url == url and settings.embedder.base_url == url
