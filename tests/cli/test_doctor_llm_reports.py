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
