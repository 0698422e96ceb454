"""One scenario through the embedded AsyncMemory and through AsyncMemoryClient on a served store.

Both stores start empty with the same settings and embedder and receive the same calls; every
answer must agree: the same items in the same order, every field (ids mapped, times the writes
made standing for "now"), scores within 1e-6, the same model classes, times as aware datetimes.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from memoryd import AsyncMemory, AsyncMemoryClient, Context, MemoryRecord, Page, UpdateResult
from memoryd.context import ContextItem
from memoryd.models import utcnow
from tests.remote.same import Ids, same

REF = "2024-09-01T00:00:00Z"  # every search's "now": recency is the same on both sides

ADDS: list[tuple[Any, dict[str, Any]]] = [
    (
        ["I moved to Lisbon last spring", "I love hiking in the mountains"],
        {"user_id": "alice", "run_id": "s1", "metadata": {"topic": "travel", "n": 1},
         "timestamp": "2024-05-01T10:00:00Z"},
    ),
    (
        {"role": "user", "content": "I love eating sushi"},
        {"user_id": "alice", "run_id": "s2", "metadata": {"topic": "food", "n": 2},
         "timestamp": datetime(2024, 6, 1, 10, tzinfo=UTC)},
    ),
    (
        [{"role": "user", "content": "I prefer window seats on long flights"},
         {"role": "assistant", "content": "Noted: a window seat next time."}],
        {"user_id": "alice", "agent_id": "planner", "run_id": "s3", "metadata": {"topic": "travel", "n": 3},
         "timestamp": 1719828000},
    ),
    ("Bob plays basketball on Tuesdays",
     {"user_id": "bob", "metadata": {"topic": "sports", "n": 4}, "timestamp": "2024-07-15T09:00:00+02:00"}),
    ("The nightly build runs at 2am", {"agent_id": "ci-bot", "run_id": "r9"}),
    ("I moved to Lisbon last spring", {"user_id": "alice", "run_id": "s1"}),  # a duplicate: NOOP
]  # fmt: skip


async def test_the_client_answers_as_the_embedded_api(local: AsyncMemory, remote: AsyncMemoryClient) -> None:
    ids = Ids(utcnow())

    async def both(call: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        mine = await getattr(local, call)(*args, **kwargs)
        theirs = await getattr(remote, call)(*args, **kwargs)
        if call in ("add", "update"):
            ids.learn(mine, theirs)
        same(mine, theirs, ids)
        return mine, theirs

    added = [await both("add", messages, **kw) for messages, kw in ADDS]
    assert [r.event.value for r in added[-1][1]] == ["NOOP"]
    assert len(ids.map) >= 2 * 6  # episodes, and what the rules read (home, food, seats)

    # Listing: scopes, paging, filters with AND / OR / NOT, as_of, superseded memories
    for scope in ({"user_id": "alice"}, {"run_id": "s1"}, {"agent_id": "ci-bot"},
                  {"user_id": "alice", "agent_id": "planner"}, {"user_id": "bob"}):  # fmt: skip
        _, page = await both("get_all", **scope)
        assert isinstance(page, Page) and page.items, scope
    _, whole = await both("get_all", user_id="alice")
    for offset in (0, 2, 4, 6):
        _, part = await both("get_all", user_id="alice", limit=2, offset=offset)
        assert part.items == whole.items[offset : offset + 2] and part.total == whole.total
    for where in (
        {"OR": [{"topic": "food"}, {"n": {"gte": 3}}]},
        {"AND": [{"topic": "travel"}, {"NOT": {"kind": "episode"}}]},
        {"NOT": {"topic": "travel"}, "created_at": {"gte": "2024-01-01"}},
    ):
        _, page = await both("get_all", user_id="alice", filters=where)
        assert page.total < whole.total, where
    await both("get_all", user_id="alice", as_of="2024-05-15T00:00:00Z")
    await both("get_all", user_id="alice", as_of=datetime(2024, 6, 15, tzinfo=UTC))

    # Search: scopes, filters, limit, threshold, as_of, explain
    _, hits = await both("search", "where does alice live?", user_id="alice", reference_time=REF)
    assert "Lisbon" in hits[0].memory.text and isinstance(hits[0].memory.created_at, datetime)
    _, hits = await both("search", "travel plans", user_id="alice", filters={"NOT": {"topic": "food"}},
                         limit=2, explain=True, reference_time=REF)  # fmt: skip
    assert len(hits) == 2 and all(h.explain for h in hits)
    await both("search", "what food does she like", user_id="alice", threshold=0.3, reference_time=REF)
    await both("search", "seats", user_id="alice", agent_id="planner", as_of="2024-06-15T00:00:00Z",
               reference_time=REF)  # fmt: skip
    await both("search", "build", agent_id="ci-bot", run_id="r9", reference_time=datetime(2025, 1, 1))
    _, hits = await both("search", "Lisbon", user_id="alice", graph_hops=1, reference_time=REF)
    assert hits.relations == []

    # By id: get, update (UPDATE, then NOOP), history
    home_local, home = added[0][0][0].id, added[0][1][0].id
    mine = await local.get(home_local, user_id="alice")
    theirs = await remote.get(home, user_id="alice")
    same(mine, theirs, ids)
    assert isinstance(theirs, MemoryRecord)
    edit = {"metadata": {"topic": "travel", "n": 5}, "user_id": "alice"}
    mine_u = await local.update(home_local, "I live in Porto now", **edit)
    theirs_u = await remote.update(home, "I live in Porto now", **edit)
    ids.learn(mine_u, theirs_u)
    same(mine_u, theirs_u, ids)
    assert isinstance(theirs_u, UpdateResult) and theirs_u.event.value == "UPDATE" and theirs_u.derived
    same(await local.update(home_local, "I live in Porto now"),
         await remote.update(home, "I live in Porto now"), ids)  # fmt: skip
    same(await local.history(home_local, user_id="alice"), await remote.history(home, user_id="alice"), ids)
    await both("get_all", user_id="alice", include_expired=True)
    await both("get_all", user_id="alice", as_of="2024-05-15T00:00:00Z", include_expired=True)

    # Context (its token counts hold each line's id tag, random: compared on one store in test_one_store)
    for query, kw in (("where do I live and what do I eat?", {"user_id": "alice", "run_id": "s1"}),
                      ("seats", {"user_id": "alice", "agent_id": "planner"})):  # fmt: skip
        mine_c, ctx = await local.context(query, **kw), await remote.context(query, **kw)
        same(_untokened(mine_c), _untokened(ctx), ids)
        assert isinstance(ctx, Context) and ctx.items and ctx.sections
    # What the prompt holds already is left out (the route took no exclude).
    kw = {"user_id": "alice", "exclude": ["I live in Porto now"]}
    mine_c, ctx = await local.context("where do I live?", **kw), await remote.context("where do I live?", **kw)
    same(_untokened(mine_c), _untokened(ctx), ids)
    assert "I live in Porto now" not in ctx.text

    # Deletes
    food_local, food = added[1][0][0].id, added[1][1][0].id
    mine_d, theirs_d = await local.delete(food_local, user_id="alice"), await remote.delete(food, user_id="alice")
    same(mine_d, theirs_d, ids)
    assert theirs_d[0].id == food and len(theirs_d) >= 2  # the preference read in it went with it
    same(await local.history(food_local), await remote.history(food), ids)
    await both("delete_all", agent_id="ci-bot")
    await both("delete_all", user_id="alice", run_id="s3")
    for scope in ({"user_id": "alice"}, {"user_id": "bob"}, {"agent_id": "ci-bot"}):
        await both("get_all", include_expired=True, **scope)


def _untokened(ctx: Context) -> Context:
    items: list[ContextItem] = [dataclasses.replace(i, tokens=0) for i in ctx.items]
    return dataclasses.replace(ctx, items=items, tokens=0)


async def test_an_add_through_the_client_carries_the_stored_memory(
    local: AsyncMemory, remote: AsyncMemoryClient
) -> None:
    """Each result of a remote add has its ``memory``: the record the server stored, as the
    embedded API gives it (it was ``None``: the route sent only the text)."""
    ids = Ids(utcnow())
    kw: dict[str, Any] = {"user_id": "ana", "run_id": "s1", "metadata": {"topic": "home"},
                          "timestamp": "2024-05-01T10:00:00Z"}  # fmt: skip
    # episodes only: a rule memory ("I moved to Porto" is a home) keeps its own metadata, not the add's
    mine = await local.add(["I visited Porto last spring", "I keep bees on the roof"], **kw)
    theirs = await remote.add(["I visited Porto last spring", "I keep bees on the roof"], **kw)
    ids.learn(mine, theirs)
    same(mine, theirs, ids)
    assert all(r.memory is not None for r in mine)
    for result in theirs:
        assert isinstance(result.memory, MemoryRecord), result
        assert result.memory.id == result.id and result.memory.text == result.text
        assert result.memory.user_id == "ana" and result.memory.metadata.get("topic") == "home"
        assert result.memory == await remote.get(result.id, user_id="ana")  # what the store holds
    # a memory fast mode's rules derive from the turn is carried too, with the rule's metadata
    derived = [r for r in await remote.add("I moved to Porto last spring", user_id="ana") if r.kind == "profile"]
    assert [(r.text, r.memory and r.memory.metadata.get("rule")) for r in derived] == [
        ("The user lives in Porto.", "live")
    ]
    assert derived[0].memory == await remote.get(derived[0].id, user_id="ana")
