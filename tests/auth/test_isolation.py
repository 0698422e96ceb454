"""Hard isolation: no tenant reads another's memories, no user key reads another user's.

Every attempt (by guessed or leaked id, by scope, by search, history, context,
update, delete, user listing and deletion) must answer 404 or leave nothing of
the other's in the answer — never 403, which would confirm the thing exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from memoryd import Settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import error_of, make_settings, running_server
from tests.auth.conftest import bearer, new_key

SECRET = "My bank PIN is 4417 and I live at 12 Rua Augusta"


class World:
    """One server, two tenants, two users in tenant acme, one memory each."""

    def __init__(self, client: httpx.Client, settings: Settings) -> None:
        self.c = client
        self.acme = bearer(new_key(settings, "service", tenant="acme"))
        self.zeta = bearer(new_key(settings, "service", tenant="zeta"))
        self.alice = bearer(new_key(settings, "user", tenant="acme", user_id="alice"))
        self.bob = bearer(new_key(settings, "user", tenant="acme", user_id="bob"))
        self.ids: dict[str, str] = {}
        for who, headers, user in (("alice", self.alice, "alice"), ("bob", self.bob, "bob"),
                                   ("zeta", self.zeta, "alice")):  # fmt: skip
            r = client.post("/v1/memories", json={"messages": f"{SECRET} ({who})", "user_id": user},
                            headers=headers)  # fmt: skip
            assert r.status_code == 200, r.text
            self.ids[who] = r.json()["results"][0]["id"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, embedder: USEEmbedder) -> Iterator[World]:
    settings = make_settings(tmp_path_factory.mktemp("iso") / "memoryd.db")
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        yield World(c, settings)


def _by_id_attempts(memory_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", f"/v1/memories/{memory_id}", {}),
        ("GET", f"/v1/memories/{memory_id}/history", {}),
        ("PATCH", f"/v1/memories/{memory_id}", {"json": {"text": "hijacked"}}),
        ("DELETE", f"/v1/memories/{memory_id}", {}),
        ("GET", f"/memories/{memory_id}", {}),
        ("GET", f"/memories/{memory_id}/history", {}),
        ("PUT", f"/memories/{memory_id}", {"json": {"text": "hijacked"}}),
        ("DELETE", f"/memories/{memory_id}", {}),
    ]


@pytest.mark.parametrize(("attacker", "victim"), [("zeta", "alice"), ("acme", "zeta"), ("bob", "alice"),
                                                  ("alice", "bob"), ("alice", "zeta")])  # fmt: skip
def test_by_id_everything_is_404(world: World, attacker: str, victim: str) -> None:
    headers = getattr(world, attacker)
    for method, path, extra in _by_id_attempts(world.ids[victim]):
        for scope in ({}, {"user_id": "alice"}, {"user_id": "bob"}):
            r = world.c.request(method, path, params=scope, headers=headers, **extra)
            error_of(r, 404)
            assert SECRET not in r.text
    # and the victim's memory is untouched
    owner = {"alice": world.alice, "bob": world.bob, "zeta": world.zeta}[victim]
    r = world.c.get(f"/v1/memories/{world.ids[victim]}", headers=owner)
    assert r.status_code == 200 and "hijacked" not in r.text


def test_scoped_reads_never_cross(world: World) -> None:
    c = world.c
    # a user key asking for bob gets a 404 — never bob; its own scope (named or not) is its own
    assert error_of(c.get("/v1/memories", params={"user_id": "bob"}, headers=world.alice), 404)
    for params in ({"user_id": "alice"}, {"agent_id": "x"}):
        r = c.get("/v1/memories", params=params, headers=world.alice)
        assert r.status_code == 200
        assert all(m["user_id"] == "alice" for m in r.json()["results"])
        assert "(bob)" not in r.text and "(zeta)" not in r.text
    for headers, leaked in ((world.alice, "(bob)"), (world.bob, "(alice)"), (world.zeta, "(alice)"),
                            (world.acme, "(zeta)")):  # fmt: skip
        body = {"query": "bank PIN address", "user_id": "bob" if headers is world.alice else "alice"}
        bound = headers in (world.alice, world.bob)  # user keys: another user is a 404
        for path, extra in (("/v1/memories/search", {}), ("/search", {}), ("/v1/context", {"token_budget": 500})):
            r = c.post(path, json={**body, **extra}, headers=headers)
            assert r.status_code == (404 if bound and body["user_id"] != _own(world, headers) else 200), path
            assert leaked not in r.text
    users = c.get("/v1/users", headers=world.alice).json()["results"]
    assert [u["user_id"] for u in users] == ["alice"]
    zeta_users = c.get("/v1/users", headers=world.zeta).json()["results"]
    assert [u["user_id"] for u in zeta_users] == ["alice"]  # zeta's own alice, a different person
    acme_users = {u["user_id"] for u in c.get("/v1/users", headers=world.acme).json()["results"]}
    assert acme_users == {"alice", "bob"}


def _own(world: World, headers: object) -> str | None:
    return "alice" if headers is world.alice else "bob" if headers is world.bob else None


def test_a_user_key_acts_for_its_own_user_only(world: World) -> None:
    c = world.c
    # naming another user is a 404 (it planted the memory under the key's user, and a delete_all
    # meant for bob erased alice's own memories)
    planted = c.post("/v1/memories", json={"messages": "planted by alice", "user_id": "bob"}, headers=world.alice)
    assert error_of(planted, 404)["field"] == "user_id"
    before = c.get("/v1/memories", params={"user_id": "alice"}, headers=world.alice).json()["total"]
    assert error_of(c.delete("/v1/memories", params={"user_id": "bob"}, headers=world.alice), 404)["field"] == "user_id"
    assert c.get("/v1/memories", headers=world.alice).json()["total"] == before > 0  # nothing erased
    error_of(c.get("/memories", params={"user_id": "bob"}, headers=world.alice), 404)  # mem0's routes too
    # naming none, or its own, is its own
    r = c.post("/v1/memories", json={"messages": "said by alice"}, headers=world.alice)
    assert r.status_code == 200
    mine = r.json()["results"][0]["id"]
    assert c.get(f"/v1/memories/{mine}", headers=world.alice).json()["user_id"] == "alice"
    error_of(c.get(f"/v1/memories/{mine}", headers=world.bob), 404)
    error_of(c.delete("/v1/users/bob", headers=world.alice), 404)
    error_of(c.post("/v1/reset", headers=world.alice), 403)
    assert c.get(f"/v1/memories/{world.ids['bob']}", headers=world.bob).status_code == 200
    # a tenant's reset erases only that tenant's store
    assert c.post("/v1/reset", headers=world.zeta).status_code == 200
    assert c.get(f"/v1/memories/{world.ids['bob']}", headers=world.acme).status_code == 200
