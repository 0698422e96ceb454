"""Erasure with the async pipeline on, over real HTTP with auth on: ``DELETE /v1/users/{id}`` and
``POST /v1/reset`` leave nothing of the erased user (or tenant) anywhere in Redis (a SCAN of every
key of the deployment, each value dumped): no text, no user id. Their events are unknown (404)
after it, dead letters gone, other users' and tenants' events untouched, and a worker that held an
event of theirs as the erasure ran still skips it and records nothing of it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import numpy as np
import redis

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import BackendUnavailableError
from memoryd.pipeline.local_redis import LocalRedis
from tests.api.conftest import running_server
from tests.auth.conftest import bearer, new_key
from tests.pipeline.conftest import PipelineCli, pipeline_settings
from tests.pipeline.helpers import burst, stored, worker_over

SECRET = "PIPEALICE secret"


class Down:
    """The embedding service, down for good (503): every add fails, transiently."""

    def __init__(self, inner: USEEmbedder) -> None:
        self.name, self.dim = inner.name, inner.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise BackendUnavailableError("embedder 'remote': HTTP 503", status=503)


def dump(url: str, prefix: str) -> str:
    """Every key of this deployment (``prefix``) and its whole value, as text."""
    client = redis.Redis.from_url(url, decode_responses=True)
    out = []
    try:
        for key in sorted(client.scan_iter(match=f"{prefix}*", count=1000)):
            kind = client.type(key)
            value: object
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "stream":
                value = client.xrange(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "set":
                value = sorted(client.smembers(key))
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            else:
                value = kind
            out.append(f"{key} = {value!r}")
    finally:
        client.close()
    return "\n".join(out)


async def dlq_list(cli: PipelineCli, *json: str) -> str:
    """``memoryd dlq list`` (the CLI runs its own event loop: in a thread of its own here)."""
    result = await asyncio.to_thread(cli.run, "dlq", "list", *json)
    assert result.exit_code == 0, result.output
    return result.stdout


def adder(c: httpx.Client) -> Callable[..., None]:
    def add(headers: dict[str, str], event_id: str, text: str, user: str | None = None) -> None:
        body = {"messages": text, "event_id": event_id, **({"user_id": user} if user else {})}
        r = c.post("/v1/memories", json=body, headers=headers)
        assert r.status_code == 202, r.text

    return add


async def test_delete_user_leaves_none_of_their_text_or_id_in_redis(
    tmp_path: Path,
    redis_server: LocalRedis,
    prefix: str,
    embedder: USEEmbedder,
    pipeline_cli: Callable[..., PipelineCli],
) -> None:
    cli = pipeline_cli()
    db = cli.settings.storage.path
    settings = pipeline_settings(db, redis_server.url, prefix)
    dies = pipeline_settings(db, redis_server.url, prefix, max_attempts=1)
    waits = pipeline_settings(db, redis_server.url, prefix, backoff_base_ms=600_000, backoff_max_ms=600_000)
    service = bearer(new_key(settings, "service"))
    alice = bearer(new_key(settings, "user", user_id="alice"))
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        add = adder(c)
        add(alice, "a-done", f"{SECRET} alpha")
        add(service, "s-done", f"{SECRET} beta", "alice")
        add(service, "b-done", "PIPEBOB keeps goats", "bob")
        assert (await burst(settings, embedder)).processed == 3
        assert c.get("/v1/events/a-done", headers=alice).json()["status"] == "done"  # its record, no text
        add(alice, "a-dead", f"{SECRET} gamma")
        add(service, "b-dead", "PIPEBOB lost letter", "bob")
        async with worker_over(dies, Down(embedder), "dies") as w:  # type: ignore[arg-type]
            await w.process(await w.queue.read("dies", 10, None))
        assert w.report.dead_lettered == 2
        add(alice, "a-retry", f"{SECRET} delta")
        async with worker_over(waits, Down(embedder), "waits") as w:  # type: ignore[arg-type]
            await w.process(await w.queue.read("waits", 10, None))
        assert w.report.retried == 1
        assert len(json.loads(await dlq_list(cli, "--json"))["results"]) == 2
        add(alice, "a-held", f"{SECRET} zeta")
        async with worker_over(settings, embedder, "late") as late:
            held = await late.queue.read("late", 10, None)  # a worker has it in hand as alice goes
            assert len(held) == 1
            add(alice, "a-queued", f"{SECRET} epsilon")
            before = dump(redis_server.url, prefix)
            assert SECRET in before and "alice" in before  # what the erasure must remove

            r = c.delete("/v1/users/alice", headers=service)
            assert r.status_code == 200, r.text
            after = dump(redis_server.url, prefix)
            assert SECRET not in after and "alice" not in after, after
            mark = f"{prefix}chat_log:forgotten:default:{hashlib.sha256(b'alice').hexdigest()}"
            with redis.Redis.from_url(redis_server.url) as client:  # kept as long as the store's mark
                assert 29 * 86_400_000 < client.pttl(mark) <= 30 * 86_400_000
            assert "PIPEBOB lost letter" in after  # bob's stay (a done event's record keeps no message text)
            for event_id in ("a-done", "a-dead", "a-retry", "a-held", "a-queued"):
                assert c.get(f"/v1/events/{event_id}", headers=alice).status_code == 404, event_id
            assert c.get("/v1/events/s-done", params={"user_id": "alice"}, headers=service).status_code == 404
            assert c.get("/v1/events/s-done", headers=service).status_code == 404
            bobs = c.get("/v1/events/b-done", params={"user_id": "bob"}, headers=service).json()
            assert bobs["status"] == "done" and bobs["result"]["results"][0]["event"] == "ADD"
            letters = json.loads(await dlq_list(cli, "--json"))["results"]
            assert [letter["event_id"] for letter in letters] == ["b-dead"]
            assert "alice" not in await dlq_list(cli)

            await late.process(held)  # queued before the erasure: skipped, and nothing of it recorded
            assert late.report.processed == 1
        assert (await burst(settings, embedder)).processed == 0  # nothing of alice's was left queued
        final = dump(redis_server.url, prefix)
        assert SECRET not in final and "alice" not in final, final
        assert c.get("/v1/events/a-held", headers=alice).status_code == 404
        assert c.get("/v1/memories", params={"user_id": "alice"}, headers=service).json()["total"] == 0
        add(alice, "a-new", "PIPEALICE is back")  # what comes after the erasure is kept
        assert (await burst(settings, embedder)).processed == 1
    assert {user for user, _ in stored(db)} == {"alice", "bob"}
    assert ("alice", "PIPEALICE is back") in stored(db)


async def test_reset_leaves_nothing_of_the_tenant_in_redis_and_other_tenants_untouched(
    psettings: Settings, redis_server: LocalRedis, prefix: str, embedder: USEEmbedder
) -> None:
    service = bearer(new_key(psettings, "service"))
    zeta = bearer(new_key(psettings, "service", tenant="zeta"))
    with running_server(psettings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        add = adder(c)
        add(service, "r-1", "PIPERESET first note", "userone")
        add(service, "r-2", "PIPERESET second note", "usertwo")
        add(zeta, "r-1", "PIPEZETA stays", "userthree")  # the same id, another tenant's event
        assert (await burst(psettings, embedder)).processed == 3
        add(service, "r-3", "PIPERESET queued note", "userone")
        r = c.post("/v1/reset", headers=service)
        assert r.status_code == 200, r.text
        after = dump(redis_server.url, prefix)
        assert "PIPERESET" not in after and "userone" not in after and "usertwo" not in after, after
        for event_id in ("r-1", "r-2", "r-3"):
            assert c.get(f"/v1/events/{event_id}", headers=service).status_code == 404, event_id
        theirs = c.get("/v1/events/r-1", headers=zeta).json()
        assert theirs["status"] == "done" and theirs["result"]["results"][0]["event"] == "ADD"
        assert (await burst(psettings, embedder)).processed == 0
