"""Control characters in what the model writes, found in a review of fine mode against a
misbehaving LLM.

Before the fix a fact the model wrote with a bell (``\\x07``) or a terminal escape
(``\\x1b[31m``) was stored with it, so ``memoryd list`` or a log printing the fact rang the
terminal or recoloured it, while the same characters in an entity's or a relation's name were
refused. Now they are dropped from the text the model writes (an extracted fact, a merged UPDATE):
an escape sequence whole, not leaving ``[31m`` behind. The user's own message is stored as said.
"""

from __future__ import annotations

from memoryd import AsyncMemory
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, facts, of_kind

ALICE = {"user_id": "alice"}
SAID = "I work at Acme\x07 \x1b[1mreally\x1b[0m."


async def test_a_fact_the_model_wrote_loses_its_control_characters(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(facts("Alice \x1b[31mworks\x1b[0m at\x07 Acme\x7f\x1b]0;pwned\x07\x9b2J"))
    out = await fine.add(SAID, **ALICE)
    [fact] = of_kind(out, "fact")
    assert fact.text == "Alice works at Acme"
    assert (await fine.get(fact.id)).text == "Alice works at Acme"
    [episode] = of_kind(out, "episode")
    assert (await fine.get(episode.id)).text == SAID  # the user's words as said


async def test_a_merged_text_the_model_wrote_loses_its_control_characters(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.reply_json(facts("Alice works at Acme"))
    [old] = of_kind(await fine.add("I work at Acme.", **ALICE), "fact")
    fake_llm.reply_json(facts("Alice is a senior engineer at Acme"))
    merged = "Alice works at Acme as a \x1b[5msenior\x1b[25m engineer\x07"
    fake_llm.reply_json(decisions({"fact": 0, "event": "UPDATE", "target": 0, "text": merged}))
    out = await fine.add("I'm a senior engineer there now.", **ALICE)
    [upd] = of_kind(out, "fact")
    assert upd.id == old.id and upd.text == "Alice works at Acme as a senior engineer"
    assert (await fine.get(old.id)).text == "Alice works at Acme as a senior engineer"
