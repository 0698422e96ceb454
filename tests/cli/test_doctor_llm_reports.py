"""``memoryd doctor`` on LLM problems (found in a review): a bad LLM setting made the store check
fail ("cannot open …: LLM provider 'vllm' has no default model", "move it aside") though the
store was fine; a Gemini target's label came out with an emoji where ":gemini:" was; and the
LLM check's summary said "unreachable" for a timeout, a refused key or a model not found."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from memoryd import AsyncMemory, load_settings
from memoryd.cli import doctor
from memoryd.embedders.use import USEEmbedder
from tests.cli.conftest import Run
from tests.fakes.llm_server import Script

VLLM_NO_MODEL = json.dumps([[{"provider": "vllm", "base_url": "http://127.0.0.1:1/v1"}]])


async def _made(path: Path, embedder: USEEmbedder) -> None:
    async with AsyncMemory(load_settings(env={"MEMORYD_STORAGE__PATH": str(path)}), embedder=embedder) as mem:
        await mem.add("I keep bees", user_id="ana")


def test_a_bad_llm_setting_leaves_the_store_check_alone(tmp_path: Path, embedder: USEEmbedder) -> None:
    path = tmp_path / "memoryd.db"
    asyncio.run(_made(path, embedder))
    env = {"MEMORYD_STORAGE__PATH": str(path), "MEMORYD_LLM_TIERS": VLLM_NO_MODEL}
    settings = load_settings(env=env)
    store = doctor.store_check(settings, embedder)
    assert store.status == "ok", (store.detail, store.fix)
    assert "1 current memory" in store.detail
    # The LLM check is the one that names the setting.
    [llm] = doctor.llm_checks(settings, env={})
    assert llm.status == "fail" and "vllm" in llm.detail and llm.fix is not None and "llm" in llm.fix


def test_a_gemini_target_is_named_as_configured_not_with_an_emoji(run: Run, fake_llm: Script) -> None:
    # ":gemini:" is rich's emoji code for ♊: the label llm:gemini:mm@host came out "llm♊mm@host".
    tiers = json.dumps([[{"provider": "gemini", "model": "mm", "base_url": fake_llm.gemini_url}]])
    human = run("doctor", env={"MEMORYD_LLM_TIERS": tiers, "GEMINI_API_KEY": "k"})
    assert "llm:gemini:mm@127.0.0.1" in human.stdout, human.stdout
    assert "♊" not in human.stdout
    # and any other config text printed: a model named with an emoji code or brackets stays as written
    other = json.dumps([[{"provider": "openai", "model": ":smile:[v2]", "base_url": fake_llm.base_url}]])
    human = run("doctor", env={"MEMORYD_LLM_TIERS": other, "OPENAI_API_KEY": "k"})
    assert "llm:openai::smile:[v2]@127.0.0.1" in human.stdout, human.stdout


def test_no_cli_message_reads_emoji_codes_in_what_it_quotes(run: Run, tmp_path: Path) -> None:
    # Every message goes through the CLI's consoles: a file name with ":smile:" stays as written.
    missing = tmp_path / "notes:smile:.jsonl"
    result = run("add", "-f", str(missing), "-u", "ana")
    assert result.exit_code != 0 and f"cannot read {missing}" in result.stderr, result.stderr
    assert "😄" not in result.stderr


def _alone(fake_llm: Script, **extra: str) -> dict[str, str]:
    return {
        "MEMORYD_LLM_BASE_URL": fake_llm.base_url,
        "MEMORYD_LLM_MODEL": "m",
        "MEMORYD_LLM_API_KEY": "sk-doctor",
        "MEMORYD_LLM_MAX_ATTEMPTS": "1",
        **extra,
    }


def test_a_timeout_is_said_and_the_fix_is_the_timeout(fake_llm: Script) -> None:
    fake_llm.hang(5)
    env = _alone(fake_llm, MEMORYD_LLM_TIMEOUT_S="0.3")
    overall, target = doctor.llm_checks(load_settings(env=env), env={})
    assert overall.status == "fail" and "unreachable" not in overall.detail
    assert "timed out after 0.3 s" in overall.detail, overall.detail
    assert overall.fix is not None and "raise llm.timeout_s (now 0.3 s)" in overall.fix, overall.fix
    assert "running and reachable" not in overall.fix
    assert target.fix == overall.fix


def test_a_refused_key_is_said_not_unreachable(fake_llm: Script) -> None:
    fake_llm.fail(401, message="invalid api key")
    overall, _ = doctor.llm_checks(load_settings(env=_alone(fake_llm)), env={})
    assert overall.status == "fail" and "unreachable" not in overall.detail
    assert "the key was refused (HTTP 401)" in overall.detail, overall.detail
    assert overall.fix is not None and "API key" in overall.fix


def test_a_model_not_found_is_said_not_unreachable(fake_llm: Script) -> None:
    fake_llm.fail(404, message="model not found")
    overall, _ = doctor.llm_checks(load_settings(env=_alone(fake_llm)), env={})
    assert overall.status == "fail" and "unreachable" not in overall.detail
    assert "model or URL not found (HTTP 404)" in overall.detail, overall.detail
    assert overall.fix is not None and "llm.model ('m')" in overall.fix
