"""Write-backs of tenants' chat calls when their stores are closed past ``auth.max_open_tenants``.

A chat call looks its tenant's store up when it starts; its turn is written back after the answer,
later (a long answer, a stream, a backlog of write-backs). Meanwhile other tenants' calls can close
that store (the least recently used, past the cap): the write-back must still store the turn.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, load_settings, tenancy
from memoryd.embedders.use import USEEmbedder
from memoryd.gateway.writeback import Turn, WriteBack
from memoryd.tenancy import Tenants
from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, GatewayServer, key, target


def _episodes(gw: GatewayServer, tenant_key: str, user_id: str) -> list[str]:
    params = {"user_id": user_id, "filters": '{"kind": "episode"}', "limit": 100}
    with gw.http(tenant_key) as http:
        r = http.get("/v1/memories", params=params)
    assert r.status_code == 200, r.text
    return sorted(m["memory"] for m in r.json()["results"])


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_write_back_is_stored_though_its_tenants_store_was_closed_while_the_answer_came(
    gateway: GatewayFactory, fake_llm: Script, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    # Before the fix the turn was dropped: the write-back used the store its call had looked up,
    # closed since, and each try failed ("the SQLite database is not open").
    monkeypatch.setattr(tenancy, "IDLE_BEFORE_CLOSE_S", 0.0)  # an idle store is closed at once
    slow = Reply(text="Acme's answer, slowly", chunk_delay=0.2) if stream else Reply(text="Acme's answer")
    fake_llm.hang(0.0 if stream else 1.0, then=slow)  # acme's call: the upstream takes its time
    fake_llm.default_text("Zeta's answer")
    auth = {"rate_limit_per_s": 0, "max_open_tenants": 1}
    with gateway([[target(fake_llm, "m")]], auth=auth) as gw:
        acme, zeta = key(gw.settings, "service", tenant="acme"), key(gw.settings, "service", tenant="zeta")
        said: dict[str, Any] = {}

        def acme_call() -> None:
            client = gw.client(key=acme)
            messages = [{"role": "user", "content": "I moved to Porto last spring"}]
            if stream:
                chunks = client.chat.completions.create(model="m", user="ana", messages=messages, stream=True)
                said["acme"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            else:
                answer = client.chat.completions.create(model="m", user="ana", messages=messages)
                said["acme"] = answer.choices[0].message.content

        caller = threading.Thread(target=acme_call)
        caller.start()
        deadline = time.monotonic() + 30
        while not fake_llm.requests and time.monotonic() < deadline:  # acme's call is upstream
            time.sleep(0.01)
        # zeta's call opens zeta's store: acme's, idle and past the cap, is closed
        zeta_answer = gw.client(key=zeta).chat.completions.create(
            model="m", user="bo", messages=[{"role": "user", "content": "I keep bees on the roof"}]
        )
        caller.join(30)
        writeback = gw.app.state.gateway.writeback
        deadline = time.monotonic() + 30
        while writeback.counts["stored"] + writeback.counts["failed"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        counts = dict(writeback.counts)
        acme_episodes = _episodes(gw, acme, "ana")
        zeta_episodes = _episodes(gw, zeta, "bo")
    assert said["acme"] == ("Acme's answer, slowly" if stream else "Acme's answer")
    assert zeta_answer.choices[0].message.content == "Zeta's answer"
    assert (counts["stored"], counts["failed"]) == (2, 0)
    assert acme_episodes == sorted(["I moved to Porto last spring", said["acme"]])
    assert zeta_episodes == sorted(["I keep bees on the roof", "Zeta's answer"])


async def test_a_write_back_holds_its_store_open_only_while_it_is_written_even_when_it_fails(
    tmp_path: Path, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a write-back holds open is let go when it is done: stored or refused."""
    monkeypatch.setattr(tenancy, "IDLE_BEFORE_CLOSE_S", 0.0)
    settings = load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}, "auth": {"max_open_tenants": 1}}
    )
    async with AsyncMemory(settings, embedder=embedder) as base:
        tenants = Tenants(settings, base)
        try:
            wb = WriteBack(settings.limits, stores=lambda tenant, view: tenants.using(tenant, create=False))
            acme = await tenants.get("acme")
            await tenants.get("zeta")  # acme is closed (a call looked it up, then waited on its answer)
            wb.schedule(acme, None, Turn("ana", None, "I visited Porto", "Noted.", "m"), tenant="acme")
            wb.schedule(acme, None, Turn("bo", None, "\x00", "Noted.", "m"), tenant="acme")  # refused
            await wb.drain(timeout_s=30)
            assert (wb.counts["stored"], wb.counts["failed"]) == (1, 1)
            stored = await tenants.get("acme")
            assert stored is not acme
            texts = sorted(m.text for m in (await stored.get_all(user_id="ana")).items)
            assert texts == ["I visited Porto", "Noted."]
            await tenants.get("omega")  # nothing holds acme's store any more: it is closed
            assert await tenants.get("acme") is not stored
        finally:
            await tenants.close()
