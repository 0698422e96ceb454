"""An import into a store a running server has open, while that store is empty, was taken for an
import into a new store: stopped by Ctrl-C, it left the store "unfinished", and the
`memoryd import --restart` that `memoryd check` then advised deleted the whole store, with what the
server had written meanwhile. A store that was there before the import (empty or not) is now no new
store: `--restart` removes only what the import wrote."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import Result

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import make_settings, running_server
from tests.portability.importing import FEW_CLONES, memories, start, stop, with_clones


@pytest.mark.timeout(600)
def test_restart_keeps_what_a_server_wrote_into_an_empty_store_during_the_import(
    tmp_path: Path, stores: Path, whole: Path, run: Callable[..., Result], embedder: USEEmbedder
) -> None:
    big = tmp_path / "big.jsonl"
    with_clones(whole, big, FEW_CLONES)
    in_file = sum(json.loads(t)["type"] == "memory" for t in big.read_text(encoding="utf-8").splitlines())
    db = stores / "served" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db)}
    with running_server(make_settings(db), embedder) as served, httpx.Client(base_url=served.url) as http:
        assert http.get("/v1/memories", params={"user_id": "keep"}).json()["total"] == 0  # made, empty
        importing = start(big, env)
        written = {}

        def server_wrote_midway() -> bool:
            if memories(db) <= 20:
                return False
            if not written:
                reply = http.post("/v1/memories", json={"messages": "I keep this one", "user_id": "keep"})
                written.update(reply.json()["results"][0])
            return memories(db) > 40

        code, _, err = stop(importing, server_wrote_midway, signal.SIGINT)
        assert code == 130, err
        assert written["event"] == "ADD"

    finished = run(env, "import", "--restart", str(big), "--json")
    assert finished.exit_code == 0, finished.stdout + finished.stderr
    assert json.loads(finished.stdout)["counts"]["memory"] == in_file
    assert memories(db) == in_file + 1
    assert run(env, "check").exit_code == 0

    async def kept() -> list[str]:
        async with AsyncMemory(make_settings(db), embedder=embedder) as mem:
            return [m.text for m in (await mem.get_all(user_id="keep")).items]

    assert asyncio.run(kept()) == ["I keep this one"]
