"""A memory cut to fit the gateway's block keeps some of its words, or it goes: a past turn's line
starts with its day and speaker ("(2024-05-01) Caroline: "), and a cut keeping only that says
nothing (the context builder drops such a cut too).

The test failed on the code before its fix (the row "(…) Caroline:…" was injected).
"""

from __future__ import annotations

import re

from memoryd.context.tokens import count_tokens
from memoryd.gateway.inject import FENCE_CLOSE, FENCE_OPEN
from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, target

ROW = re.compile(r"\[[0-9a-f]+\] (.*)")
LEAD = re.compile(r"(\(\d{4}-\d{2}-\d{2}\) )?Caroline:")


def test_a_turn_cut_to_its_day_and_speaker_is_dropped_from_the_block(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # Each turn fits the builder's budget as written; its angle brackets, written as entities in the
    # block, make it outgrow the gateway's, and the cut to the room left ends before its first word.
    injected: dict[int, list[str]] = {}
    with gateway([[target(fake_llm, "m")]], gateway={"token_budget": 120}) as gw:
        budget = gw.settings.gateway.token_budget
        for n in range(1, 16):
            user = f"u{n}"
            turn = {"role": "user", "name": "Caroline", "content": "<" * n + " Lisbon tram ticket prices"}
            with gw.http() as http:
                r = http.post("/v1/memories", json={"messages": [turn], "user_id": user})
            assert r.status_code == 200, r.text
            raw = gw.client().chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": "Lisbon tram ticket"}], user=user
            )
            first = fake_llm.last.json["messages"][0]
            if raw.headers["x-memoryd-memory"] != "injected":
                assert raw.headers["x-memoryd-memory"] == "none" and first["role"] == "user"
                continue
            block = first["content"]
            assert count_tokens(block) == int(raw.headers["x-memoryd-memory-tokens"]) <= budget
            inside = block.split(FENCE_OPEN, 1)[1].removesuffix(FENCE_CLOSE)
            rows = [m.group(1) for line in inside.splitlines() if (m := ROW.fullmatch(line))]
            assert len(rows) == int(raw.headers["x-memoryd-memories-injected"]), block
            injected[n] = rows
    assert injected, "no block was injected at all"
    for n, rows in injected.items():
        for row in rows:  # never only "(2024-05-01) Caroline:…": some of what was said follows
            lead = LEAD.match(row)
            assert lead is not None, row
            assert row[lead.end() :].removesuffix("…").strip(), (n, row)
            assert "&lt;" in row, (n, row)
