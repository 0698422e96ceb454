"""The memory tree of an owner with more memories than it shows is bounded and says so: at most
``long_term`` memories per long-term group and the ``segments`` hottest segments (in their
topics); ``counts`` still gives every total and ``omitted`` names each part cut, how much is
shown and the GET that lists the rest, in the Python API and over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import InvalidInputError
from tests.api.conftest import error_of, running_server
from tests.api.schema_check import SchemaCheck
from tests.hierarchy.conftest import TOPICS, chat, tier_settings

LIKES = [f"I like the colour number {i}." for i in range(60)]  # fast rules: 60 preferences


def _segments(tree: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for topic in tree["topics"] for s in topic["segments"]]


async def _listed(mem: AsyncMemory, owner: dict[str, Any], filters: dict[str, Any]) -> list[str]:
    """Every id the long-term group's ``filters`` list, paged as a client would."""
    ids: list[str] = []
    while True:
        page = await mem.get_all(**owner, filters=filters, limit=25, offset=len(ids))
        ids += [m.id for m in page.items]
        if not page.items:
            return ids


async def test_long_term_groups_are_capped_with_true_counts_and_how_to_list_the_rest(
    make_memory: Callable[..., Any],
) -> None:
    async with make_memory() as mem:
        await mem.add(LIKES, user_id="ana", run_id="s1")
        await mem.add([f"I like the agent's tune {i}." for i in range(3)], user_id="ana", agent_id="bot7")
        tree = await mem.tree("ana", long_term=25)
        shown = tree["long_term"]["preference"]
        assert len(shown) == 25 and tree["counts"]["long_term"]["preference"] == 60
        [cut] = tree["omitted"]
        filters = {"kind": "preference", "metadata.about": {"ne": "assistant"}, "agent_id": None}
        assert {k: cut[k] for k in ("part", "shown", "total", "filters")} == {
            "part": "long_term.preference", "shown": 25, "total": 60, "filters": filters,
        }  # fmt: skip
        assert cut["get"].startswith("/v1/memories?user_id=ana&filters=")
        # the filters list exactly the group: the 60 (the 25 shown among them), not the agent's 3
        listed = await _listed(mem, {"user_id": "ana"}, cut["filters"])
        assert len(listed) == len(set(listed)) == 60 and {m["id"] for m in shown} <= set(listed)

        default = await mem.tree("ana")  # 50 a group by default
        assert len(default["long_term"]["preference"]) == 50 and default["omitted"][0]["shown"] == 50
        assert [m["id"] for m in default["long_term"]["preference"][:25]] == [m["id"] for m in shown]
        everything = await mem.tree("ana", long_term=100)
        assert everything["omitted"] == [] and len(everything["long_term"]["preference"]) == 60

        small = await mem.tree("ana", agent_id="bot7")  # a small owner: all of it, nothing omitted
        assert small["omitted"] == [] and len(small["long_term"]["preference"]) == 3
        [pair] = (await mem.tree("ana", agent_id="bot7", long_term=1))["omitted"]
        assert pair["filters"] == {"kind": "preference", "metadata.about": {"ne": "assistant"}}
        assert pair["get"].startswith("/v1/memories?user_id=ana&agent_id=bot7&filters=")
        assert len(await _listed(mem, {"user_id": "ana", "agent_id": "bot7"}, pair["filters"])) == 3
        for name, bad in (("long_term", -1), ("segments", 10_001), ("long_term", True)):
            with pytest.raises(InvalidInputError) as refused:
                await mem.tree("ana", **{name: bad})
            assert refused.value.field == name


async def test_only_the_hottest_segments_are_shown_in_their_topics(make_memory: Callable[..., Any]) -> None:
    async with make_memory(short_term_turns=1, topic_similarity=0.3) as mem:
        await chat(mem, TOPICS["cat"], run_id="s1")
        await chat(mem, TOPICS["work"], run_id="s2")
        await chat(mem, TOPICS["cooking"] + [("user", "ok")], run_id="s3")
        full = await mem.tree("ana", segments=10_000)
        every = _segments(full)
        assert full["omitted"] == [] and len(every) >= 3 and len(full["topics"]) >= 2
        assert all(t["segment_count"] == len(t["segments"]) for t in full["topics"])

        tree = await mem.tree("ana", segments=1)
        [hottest] = _segments(tree)
        assert hottest == max(every, key=lambda s: (s["heat"], [-ord(c) for c in s["id"]]))
        [topic] = tree["topics"]
        source = next(t for t in full["topics"] if t["id"] == topic["id"])
        assert topic == {**source, "segments": [hottest]}  # its totals are still all of its segments
        assert tree["counts"] == full["counts"] and tree["counts"]["topics"] == len(full["topics"])
        total = len(every)
        more = f"/v1/users/ana/tree?episodes=20&long_term=50&segments={total}"
        assert tree["omitted"] == [
            {"part": "segments", "shown": 1, "total": total, "filters": None, "get": more},
            {"part": "topics", "shown": 1, "total": len(full["topics"]), "filters": None, "get": more},
        ]
        assert (await mem.tree("ana", segments=0))["topics"] == []
        assert (await mem.tree("ana"))["omitted"] == []  # a small owner's tree is whole by default


def test_the_tree_is_capped_over_http_and_its_omissions_lead_to_the_rest(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = tier_settings(tmp_path, short_term_turns=1, topic_similarity=0.3)
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        check = SchemaCheck.served_by(c)
        turns = [{"role": r, "content": t} for r, t in TOPICS["cat"] + TOPICS["work"]]
        for body in (
            {"messages": LIKES, "user_id": "ana", "run_id": "s1"},
            {"messages": turns, "user_id": "ana", "run_id": "s2"},
            {"messages": LIKES[:12], "agent_id": "bot7"},
            {"messages": ["I like jazz.", "I like tea."], "user_id": "ana", "agent_id": "bot7"},
        ):
            assert c.post("/v1/memories", json=body).status_code == 200

        tree = check(
            c.get("/v1/users/ana/tree", params={"long_term": 10, "segments": 1}), "/v1/users/{user_id}/tree"
        )
        assert len(tree["long_term"]["preference"]) == 10 and tree["counts"]["long_term"]["preference"] == 60
        assert (
            len(_segments(tree)) == 1 and tree["counts"]["segments"] + tree["counts"]["evicted_segments"] > 1
        )
        cut = {o["part"]: o for o in tree["omitted"]}
        assert {"long_term.preference", "segments"} <= set(cut) and cut["segments"]["shown"] == 1
        listed: list[str] = []
        while True:  # the long-term group's GET, paged: all 60 (not the agent's own nor ana's with it)
            page = c.get(cut["long_term.preference"]["get"] + f"&limit=25&offset={len(listed)}")
            assert page.status_code == 200, page.text
            listed += [m["id"] for m in page.json()["results"]]
            if not page.json()["results"]:
                break
        assert len(set(listed)) == 60 and {m["id"] for m in tree["long_term"]["preference"]} <= set(listed)
        whole = check(c.get(cut["segments"]["get"]), "/v1/users/{user_id}/tree")  # the segments' GET
        assert len(_segments(whole)) == cut["segments"]["total"]
        assert [o["part"] for o in whole["omitted"]] == ["long_term.preference"]
        assert whole["omitted"][0]["shown"] == 10  # the same long_term as asked

        agent = check(c.get("/v1/agents/bot7/tree", params={"long_term": 5}), "/v1/agents/{agent_id}/tree")
        [own] = agent["omitted"]
        assert (own["shown"], own["total"], own["filters"]["user_id"]) == (5, 12, None)
        page = c.get(own["get"] + "&limit=100").json()
        assert page["total"] == len(page["results"]) == 12

        for params in ({"long_term": -1}, {"segments": 10_001}, {"long_term": "all"}):
            error = error_of(c.get("/v1/users/ana/tree", params=params), 422)
            assert next(iter(params)) in str(error)
        small = check(c.get("/v1/users/ana/tree", params={"agent_id": "bot7"}), "/v1/users/{user_id}/tree")
        assert small["omitted"] == [] and len(small["long_term"]["preference"]) == 2
