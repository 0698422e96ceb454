"""``context.max_facts`` ("facts and preferences offered, each") bounds the profile, the preferences,
the assistant's lessons and the relevant facts a context offers, whichever read found them: a
profile or preference entry the wide search returned takes a slot of its section too."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from tests.context.conftest import OLD_SESSION, SESSION


async def _context_counts(tmp_path: Path, embedder: USEEmbedder, max_facts: int) -> Counter[str]:
    settings = load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / f"facts{max_facts}.db"), "synchronous": "NORMAL"},
            "context": {"fast_rules": True, "max_facts": max_facts},
        },
    )
    async with AsyncMemory(settings, embedder=embedder) as mem:
        for run_id, turns in (("s1", OLD_SESSION), ("s2", SESSION)):
            for role, text in turns:
                await mem.add({"role": role, "content": text}, user_id="ana", run_id=run_id)
        await mem.add("Please be more concise.", user_id="ana", run_id="s2")
        stored = Counter(m.kind.value for m in (await mem.get_all(user_id="ana", limit=100)).items)
        assert stored["profile"] >= 3 and stored["preference"] >= 3  # name, home, work; two tastes, a lesson
        ctx = await mem.context(
            "Where do I live, where do I work, what do I love and hate?", user_id="ana", run_id="s2"
        )
        assert ctx.dropped == 0  # what is left out is left out by max_facts, not by the budget
        lessons = sum(1 for i in ctx.items if i.text.startswith("The assistant"))
        out = Counter(i.section for i in ctx.items)
        out["lessons"], out["Preferences"] = lessons, out["Preferences"] - lessons
        return out


async def test_max_facts_zero_offers_no_profile_and_no_preference(tmp_path: Path, embedder: USEEmbedder) -> None:
    out = await _context_counts(tmp_path, embedder, 0)
    assert out["Profile"] == out["Preferences"] == out["lessons"] == 0, out
    assert out["Recent conversation"] == len(SESSION) + 1  # the rest is still there


async def test_max_facts_one_offers_one_of_each(tmp_path: Path, embedder: USEEmbedder) -> None:
    out = await _context_counts(tmp_path, embedder, 1)
    assert out["Profile"] == out["Preferences"] == out["lessons"] == 1, out
