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
