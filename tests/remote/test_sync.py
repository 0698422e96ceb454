"""The synchronous MemoryClient answers as the embedded synchronous Memory (equivalent stores)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from memoryd import Memory, MemoryClient, NotFoundError
from memoryd.embedders.use import USEEmbedder
from memoryd.models import utcnow
from tests.api.conftest import Running, make_settings
from tests.remote.same import Ids, same

REF = "2024-09-01T00:00:00Z"


def test_the_sync_client_answers_as_the_sync_memory(
    served: Running, tmp_path: Path, embedder: USEEmbedder
) -> None:
    ids = Ids(utcnow())
    with Memory(make_settings(tmp_path / "sync" / "memoryd.db"), embedder=embedder) as local, MemoryClient(
        served.url
    ) as remote:
        for text, kw in (("I live in Porto now", {"run_id": "s1"}), ("I love eating sushi", {"agent_id": "chef"})):
            mine, theirs = local.add(text, user_id="ana", timestamp="2024-05-01T10:00:00Z", **kw), remote.add(
                text, user_id="ana", timestamp="2024-05-01T10:00:00Z", **kw
            )
            ids.learn(mine, theirs)
            same(mine, theirs, ids)
        same(local.get_all(user_id="ana"), remote.get_all(user_id="ana"), ids)
        same(local.search("where do I live?", user_id="ana", reference_time=REF),
             remote.search("where do I live?", user_id="ana", reference_time=REF), ids)  # fmt: skip
        home_local, home = next(iter(ids.map.items()))
        same(local.get(home_local), remote.get(home), ids)
        mine_u, theirs_u = local.update(home_local, "I live in Braga now"), remote.update(home, "I live in Braga now")
        ids.learn(mine_u, theirs_u)
        same(mine_u, theirs_u, ids)
        same(local.history(home_local), remote.history(home), ids)
        kw = {"user_id": "ana", "run_id": "s1", "token_budget": 200}
        assert remote.context("where do I live?", **kw).text.count("\n") == local.context(
            "where do I live?", **kw
        ).text.count("\n")
        same(local.delete(home_local), remote.delete(home), ids)
        assert local.delete_all(user_id="ana") == remote.delete_all(user_id="ana") > 0
        with pytest.raises(NotFoundError):
            remote.get(home)
    with pytest.raises(RuntimeError, match="closed"):
        remote.get_all(user_id="ana")


async def test_the_sync_client_works_inside_a_running_event_loop(served: Running) -> None:
    # its calls run on a loop of its own, as Memory's do (notebooks, async frameworks)
    with MemoryClient(served.url) as client:
        client.add("I live in Porto now", user_id="ana")
        assert client.get_all(user_id="ana").total >= 1
    await asyncio.sleep(0)
