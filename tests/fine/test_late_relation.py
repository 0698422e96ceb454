"""A relation told late is not stretched over a time it did not hold.

Ana lived in Lisbon, then in Madrid, then in Lisbon again: the graph holds an ended Lisbon edge
(2019-2020), a Madrid one (2020-2023) and a current Lisbon one (from 2023). A detail about 2019
told afterwards used to move the current Lisbon edge's start back to 2019, so that in 2021 she
lived in Lisbon and in Madrid at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from memoryd import AsyncMemory
from memoryd.models import Scope
from tests.fakes.llm_server import Script

ANA = Scope("ana")


def _lives_in(target: str) -> dict[str, object]:
    return {
        "facts": [{"text": f"Ana lives in {target}", "sources": [0]}],
        "relations": [{"source": "Ana", "relation": "lives_in", "target": target, "fact": 0}],
    }


async def _homes(mem: AsyncMemory, year: int) -> list[str]:
    found = await mem.storage.graph.neighbours(ANA, ["Ana"], as_of=datetime(year, 6, 1, tzinfo=UTC))
    return sorted(r.target.name for r in found if r.relation == "lives_in")


async def test_a_detail_told_late_joins_the_interval_it_falls_in(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(_lives_in("Lisbon"))  # the first fact: nothing to reconcile with
    await fine.add("I live in Lisbon.", user_id="ana", timestamp="2019-01-01T09:00:00Z")
    fake_llm.reply_json(_lives_in("Madrid"))
    fake_llm.reply_json({"decisions": [{"fact": 0, "event": "SUPERSEDE", "target": 0}]})
    await fine.add("I moved to Madrid.", user_id="ana", timestamp="2020-01-01T09:00:00Z")
    fake_llm.reply_json(_lives_in("Lisbon"))
    fake_llm.reply_json({"decisions": [{"fact": 0, "event": "SUPERSEDE", "target": 0}]})
    await fine.add("I moved back to Lisbon.", user_id="ana", timestamp="2023-01-01T09:00:00Z")
    assert [await _homes(fine, y) for y in (2019, 2021, 2024)] == [["Lisbon"], ["Madrid"], ["Lisbon"]]

    fake_llm.reply_json(  # history told late: a detail of her first Lisbon years
        {
            "facts": [{"text": "Ana lived near the river in Lisbon", "sources": [0]}],
            "relations": [{"source": "Ana", "relation": "lives_in", "target": "Lisbon", "fact": 0}],
        }
    )
    fake_llm.reply_json({"decisions": [{"fact": 0, "event": "ADD"}]})
    out = await fine.add("In 2019 I lived near the river in Lisbon.", user_id="ana", timestamp="2019-04-01T09:00:00Z")
    [fact] = [r for r in out if r.kind == "fact"]
    assert [await _homes(fine, y) for y in (2019, 2021, 2024)] == [["Lisbon"], ["Madrid"], ["Lisbon"]]
    lisbon = [r for r in await fine.storage.graph.relations(ANA, include_expired=True) if r.target.name == "Lisbon"]
    spans = sorted((r.valid_from.year, r.valid_to.year if r.valid_to else None) for r in lisbon)
    assert spans == [(2019, 2020), (2023, None)]
    [first] = [r for r in lisbon if r.valid_to is not None]
    assert fact.id in first.memory_ids  # the late detail asserts the interval it falls in
    assert await fine.storage.graph.check() == []
