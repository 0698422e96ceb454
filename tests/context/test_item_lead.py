"""A context item carries its lead, the start of its line's text before the memory's words (a turn's
day and speaker), as the builder wrote it: the gateway's cut keeps it with some words or drops the item.

Each test failed on the code before its fix (the item had no ``lead``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from memoryd.context.builder import PROFILE, RECENT, RELEVANT, Candidate, build_context
from memoryd.models import MemoryKind, MemoryRecord, content_hash

WHEN = datetime(2024, 5, 1, 10, tzinfo=UTC)


def record(n: int, text: str, kind: MemoryKind = MemoryKind.EPISODE, **extra: object) -> MemoryRecord:
    fields: dict[str, object] = {
        "id": f"0190{n:04d}-0000-7000-8000-000000000000", "text": text, "kind": kind, "user_id": "ana",
        "agent_id": None, "run_id": "s1", "metadata": {},
        "role": "user" if kind is MemoryKind.EPISODE else None, "actor": None, "source_ids": (),
        "event_time": WHEN, "created_at": WHEN, "updated_at": WHEN, "hash": content_hash(text),
        "valid_from": WHEN,
    }  # fmt: skip
    fields.update(extra)
    return MemoryRecord(**fields)  # type: ignore[arg-type]


def test_each_item_carries_the_lead_its_text_starts_with() -> None:
    ctx = build_context(
        [
            Candidate(record(1, "Where is the tram stop?"), RECENT),
            Candidate(
                record(2, "Ticket: four euros", actor="Support: Tier 2", role="assistant"), RELEVANT, 0.9
            ),
            Candidate(record(3, "(2024-01-01) Bob: hi", MemoryKind.FACT), RELEVANT, 0.5),
            Candidate(record(4, "The user's name is Ana.", MemoryKind.PROFILE), PROFILE),
        ],
        1000,
    )
    leads = {i.text: i.lead for i in ctx.items}
    assert leads == {
        "The user's name is Ana.": "",
        "(2024-05-01) Support: Tier 2: Ticket: four euros": "(2024-05-01) Support: Tier 2: ",
        "(2024-01-01) Bob: hi": "",
        "user: Where is the tram stop?": "user: ",
    }
    assert [i.to_dict()["lead"] for i in ctx.items] == [i.lead for i in ctx.items]


def test_a_cut_item_keeps_its_whole_lead() -> None:
    text = " ".join(f"word{i}" for i in range(200))
    ctx = build_context([Candidate(record(1, text, actor="安娜： 客服部"), RELEVANT, 0.9)], 40)
    (item,) = ctx.items
    assert item.truncated and item.lead == "(2024-05-01) 安娜： 客服部: "
    assert item.text.startswith(item.lead) and item.text.endswith("…")
