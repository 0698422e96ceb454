"""A message longer than an extraction prompt shows (6,000 characters) is extracted whole, in
pieces, through ``add(mode="fine")`` against the scripted LLM vendor on loopback (real HTTP, real
SQLite).

Fix: the prompt showed its first 6,000 characters and " …": a fact said after that was never
extracted, and nothing (``llm.incomplete``) said so.
"""

from __future__ import annotations

from memoryd import AsyncMemory
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import facts

ALICE = {"user_id": "alice"}


async def test_a_fact_at_the_end_of_a_long_message_is_extracted(fine: AsyncMemory, fake_llm: Script) -> None:
    notes = " ".join(f"Note {i}: the garden needs watering." for i in range(250))  # ~9,000 characters
    said = f"{notes} By the way, my sister is called Zoe."
    fake_llm.reply_json(facts("Alice keeps notes about her garden"))
    fake_llm.reply_json(facts("Alice's sister is called Zoe"))
    out = await fine.add(said, **ALICE, mode="fine")
    prompts = [r.json["messages"][-1]["content"] for r in fake_llm.requests]
    assert any("my sister is called Zoe" in p for p in prompts)
    assert sorted(r.text for r in out if r.kind == "fact") == [
        "Alice keeps notes about her garden",
        "Alice's sister is called Zoe",
    ]
    [episode] = [r for r in out if r.kind == "episode"]
    stored = await fine.get(str(episode.id))
    assert stored is not None and stored.text == said  # stored whole, as ever
    assert all(said_in(p, said) for p in prompts)  # each prompt shows a piece of it, uncut


def said_in(prompt: str, said: str) -> bool:
    """Whether ``prompt`` shows a piece of ``said`` as written, not cut short with "…"."""
    shown = prompt.split("[0] user: ", 1)[1].split("\nAnswer with", 1)[0]
    return shown in said and not shown.endswith("…")
