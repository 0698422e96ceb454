"""A reconciliation decision under other keys than the prompt's, through ``add(mode="fine")``
against the scripted LLM vendor on loopback (real HTTP, real SQLite).

Fix: a decision missing "event" was read as an ADD, so one written with mem0's or another common
key ({"action": "UPDATE", "id": 0, ...}) stored a second copy beside the memory the model meant to
update, with no reason and nothing in ``llm.incomplete``; those keys are now read as meant, and a
decision naming no event at all is no decision (its fact is added as new, said, and left due).
"""

from __future__ import annotations

from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.models import Event
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import decisions, facts, of_kind

ALICE = {"user_id": "alice"}
KNOWN = {"kind": {"in": ["fact", "preference", "profile"]}}


async def _golf(fine: AsyncMemory, fake_llm: Script) -> str:
    fake_llm.reply_json(facts("Alice plays golf"))
    [golf] = of_kind(await fine.add("I play golf", **ALICE, mode="fine"), "fact")
    return str(golf.id)


@pytest.mark.parametrize(
    "decision",
    [
        {"fact": 0, "action": "UPDATE", "id": 0, "text": "Alice plays golf on weekends"},
        {"fact": 0, "event": "UPDATE", "memory_id": "0", "new_text": "Alice plays golf on weekends"},
        {"fact_id": 0, "operation": "update", "target_id": 0, "merged_text": "Alice plays golf on weekends"},
    ],
    ids=["action-id", "memory_id-new_text", "fact_id-operation"],
)
async def test_an_update_under_other_keys_updates_the_memory(
    fine: AsyncMemory, fake_llm: Script, decision: dict[str, Any]
) -> None:
    golf = await _golf(fine, fake_llm)
    fake_llm.reply_json(facts("Alice plays golf on weekends"))
    fake_llm.reply_json(decisions(decision))
    out = await fine.add("I play golf on weekends", **ALICE, mode="fine")
    [fact] = of_kind(out, "fact")
    assert (fact.event, fact.id) == (Event.UPDATE, golf), fact.reason
    current = (await fine.get_all(**ALICE, filters=KNOWN)).items
    assert [m.text for m in current] == ["Alice plays golf on weekends"]


async def test_a_decision_naming_no_event_is_not_read_as_an_add(fine: AsyncMemory, fake_llm: Script) -> None:
    await _golf(fine, fake_llm)
    fake_llm.reply_json(facts("Alice plays golf on weekends"))
    fake_llm.reply_json(decisions({"fact": 0, "target": 0}), times=2)  # asked again once: the same
    out = await fine.add("I play golf on weekends", **ALICE, mode="fine")
    [fact] = of_kind(out, "fact")
    assert fact.event is Event.ADD and fact.reason  # added as new, and why
    assert out.llm.incomplete is not None and "reconciliation" in out.llm.incomplete
    assert len(fake_llm.requests) == 4  # the reconciliation was asked again
