"""``memoryd doctor``'s LLM checks: fast mode explained, each tier's target probed over HTTP."""

from __future__ import annotations

from collections.abc import Callable

from memoryd.cli.doctor import llm_checks
from memoryd.config import load_settings
from tests.fakes.llm_server import Script
from tests.llm.conftest import KEY, dead_url


def test_not_configured_says_fast_mode_and_how_to_enable_fine_mode() -> None:
    (check,) = llm_checks(load_settings(env={}), env={})
    assert check.status == "ok" and check.data == {"mode": "fast"}
    for needle in ("fast mode", "MEMORYD_LLM_BASE_URL", "MEMORYD_LLM_API_KEY", "MEMORYD_LLM_MODEL"):
        assert needle in check.detail


def test_one_target_answering(fake_llm: Script) -> None:
    env = {"MEMORYD_LLM_BASE_URL": fake_llm.base_url, "MEMORYD_LLM_MODEL": "m", "MEMORYD_LLM_API_KEY": KEY}
    overall, target = llm_checks(load_settings(env=env), env={})
    assert overall.status == "ok" and "1 of 1 target in 1 tier answered" in overall.detail
    assert target.status == "ok" and target.name.startswith("llm:openai:m@127.0.0.1")
    assert "tier 1: answered in" in target.detail and target.data["tier"] == 1
    assert fake_llm.last.json["max_tokens"] == 16


def test_each_tier_reported_with_a_fix_for_the_failing_one(
    fake_llm: Script, fake_llm_factory: Callable[[], Script]
) -> None:
    second = fake_llm_factory()
    fake_llm.fail(401, message="invalid key")
    tiers = f'[[{{"provider": "custom", "model": "a", "base_url": "{fake_llm.base_url}"}}], [{{"provider": "custom", "model": "b", "base_url": "{second.base_url}"}}]]'
    overall, first, backup = llm_checks(load_settings(env={"MEMORYD_LLM_TIERS": tiers}), env={})
    assert overall.status == "warn" and "1 of 2 targets in 2 tiers answered" in overall.detail
    assert first.status == "warn" and "tier 1" in first.detail and "HTTP 401" in first.detail
    assert first.fix is not None and "check the API key" in first.fix and "none is set" in first.fix
    assert backup.status == "ok" and "tier 2" in backup.detail


def test_unreachable_llm_fails_with_the_fix() -> None:
    env = {"MEMORYD_LLM_BASE_URL": dead_url(), "MEMORYD_LLM_MODEL": "m"}
    overall, target = llm_checks(load_settings(env=env), env={})
    assert overall.status == "fail" and "unreachable" in overall.detail
    assert target.status == "fail" and "connection failed" in target.detail
    assert overall.fix is not None and "running and reachable" in overall.fix


def test_a_config_problem_is_a_failed_check() -> None:
    (check,) = llm_checks(
        load_settings(env={"MEMORYD_LLM_PROVIDER": "vllm", "MEMORYD_LLM_BASE_URL": "http://h/v1"}), env={}
    )
    assert (
        check.status == "fail" and "set llm.model" in check.detail and check.fix and "llm.model" in check.fix
    )


def test_a_password_in_base_url_is_never_shown() -> None:
    url = dead_url().replace("http://", "http://proxyuser:Sup3rS3cret@")
    overall, target = llm_checks(load_settings(env={"MEMORYD_LLM_BASE_URL": url, "MEMORYD_LLM_MODEL": "m"}), env={})
    shown = repr([overall.detail, overall.fix, target.name, target.detail, target.fix, target.data])
    assert "Sup3rS3cret" not in shown and "proxyuser:***@" in shown
