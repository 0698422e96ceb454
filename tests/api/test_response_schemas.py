"""Every success body of the /v1 and mem0 routes is in /openapi.json, and real answers match it.

A real server over real HTTP: each route is called for real (fast mode here; fine mode against
the scripted LLM below; the async pipeline's answers in tests/pipeline/test_response_schemas.py)
and each answer is validated against the schema the server declares for that route and status
(see :mod:`tests.api.schema_check`: objects closed, times checked).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from memoryd import load_settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server
from tests.api.schema_check import SchemaCheck, json_routes, names_its_fields
from tests.fakes.llm_server import Script
from tests.fine.conftest import llm_settings

# Answers only the async pipeline gives: checked in tests/pipeline/test_response_schemas.py.
PIPELINE_ONLY = {
    ("post", "/v1/memories", 202),
    ("post", "/memories", 202),
    ("get", "/v1/events/{event_id}", 200),
}
TURNS = [
    ("s1", "user", "My name is Ana and I love hiking in the mountains."),
    ("s1", "assistant", "Hiking sounds great. Any favourite trail?"),
    ("s1", "user", "The trails in Sintra are my favourite."),
    ("s2", "user", "I am learning to bake sourdough bread."),
    ("s2", "assistant", "Sourdough takes patience; how is your starter?"),
    ("s3", "user", "I hate olives."),
]


@pytest.fixture
def served(tmp_path: Path, embedder: USEEmbedder) -> Iterator[httpx.Client]:
    """A server whose short-term tier is small, so turns reach mid-term segments (a full tree)."""
    settings = load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "schemas.db"), "synchronous": "NORMAL"},
            "tiers": {"short_term_turns": 2, "short_term_sessions": 1},
        },
    )
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_every_json_route_documents_its_success_body(served: httpx.Client) -> None:
    check = SchemaCheck.served_by(served)
    routes = json_routes(check.spec)
    assert len(routes) >= 27 and ("post", "/search") in routes and ("get", "/v1/events/{event_id}") in routes
    for method, path in routes:
        answers = check.spec["paths"][path][method]["responses"]
        success = [status for status in answers if status.startswith("2")]
        assert success, f"{method.upper()} {path} documents no success answer"
        for status in success:
            schema = check.schema(method, path, int(status))
            assert names_its_fields(check, schema), f"{method.upper()} {path} {status}: no body schema: {schema}"


def test_v1_answers_match_their_schema(served: httpx.Client) -> None:
    c, check = served, SchemaCheck.served_by(served)
    ids, derived = [], []
    for run_id, role, text in TURNS:
        body = {"messages": [{"role": role, "content": text}], "user_id": "ana", "run_id": run_id}
        added = check(c.post("/v1/memories", json={**body, "metadata": {"app": "chat"}}), "/v1/memories")
        ids.append(added["results"][0]["id"])
        derived += added["results"][1:]
    assert {r["kind"] for r in derived} >= {"profile", "preference"} and all(r["sources"] for r in derived)
    name_turn = ids[0]
    with_id = {"messages": "I keep bees", "user_id": "ana", "event_id": "e-1", "timestamp": "2024-05-01T10:00Z"}
    assert check(c.post("/v1/memories", json=with_id), "/v1/memories")["event_id"] == "e-1"
    again = check(c.post("/v1/memories", json={"messages": "I keep bees", "user_id": "ana"}), "/v1/memories")
    assert again["results"][0]["event"] == "NOOP" and again["results"][0]["reason"]

    page = check(c.get("/v1/memories", params={"user_id": "ana", "limit": 3}), "/v1/memories")
    assert page["total"] > 3 and len(page["results"]) == 3
    listed = c.post("/v1/memories/list", json={"user_id": "ana", "filters": {"kind": "episode"}})
    assert check(listed, "/v1/memories/list")["results"]
    query = {"query": "where does Ana hike?", "user_id": "ana"}
    assert check(c.post("/v1/memories/search", json=query), "/v1/memories/search")["results"]
    explained = check(c.post("/v1/memories/search", json={**query, "explain": True}), "/v1/memories/search")
    assert "explain" in explained["results"][0]

    got = check(c.get(f"/v1/memories/{name_turn}", params={"user_id": "ana"}), "/v1/memories/{memory_id}")
    assert got["event_time"] is None and got["valid_to"] is None
    edit = {"text": "My name is Ana and I love climbing."}
    edited = check(c.patch(f"/v1/memories/{name_turn}", json=edit), "/v1/memories/{memory_id}")
    assert edited["event"] == "UPDATE" and edited["derived"]
    same = check(c.patch(f"/v1/memories/{name_turn}", json=edit), "/v1/memories/{memory_id}")
    assert same["event"] == "NOOP"
    history = check(c.get(f"/v1/memories/{name_turn}/history"), "/v1/memories/{memory_id}/history")
    assert [h["event"] for h in history["results"]] == ["ADD", "UPDATE", "NOOP"]

    context = {"query": "what does Ana like?", "user_id": "ana", "run_id": "s3", "token_budget": 200}
    assert check(c.post("/v1/context", json=context), "/v1/context")["items"]
    (owner,) = check(c.get("/v1/users"), "/v1/users")["results"]
    assert owner["user_id"] == "ana" and owner["tiers"]["mid_term_turns"] > 0
    tree = check(c.get("/v1/users/ana/tree"), "/v1/users/{user_id}/tree")
    assert tree["topics"] and tree["short_term"] and tree["long_term"]["profile"]
    assert c.get("/v1/users/nobody/tree").json()["error"]["field"] == "user_id"  # 404: nothing stored
    bot = {"messages": "Remember to greet users politely", "agent_id": "bot7", "run_id": "b1"}
    check(c.post("/v1/memories", json=bot), "/v1/memories")
    agent_tree = check(c.get("/v1/agents/bot7/tree"), "/v1/agents/{agent_id}/tree")
    assert (agent_tree["user_id"], agent_tree["agent_id"], agent_tree["counts"]["episodes"]) == (None, "bot7", 1)

    olives = ids[-1]  # its preference goes with it
    gone = check(c.delete(f"/v1/memories/{olives}"), "/v1/memories/{memory_id}")
    assert gone["deleted"] == 2 and gone["also_deleted"]
    assert check(c.delete("/v1/memories", params={"run_id": "s2"}), "/v1/memories")["deleted"] >= 2
    assert check(c.delete("/v1/users/ana"), "/v1/users/{user_id}")["deleted"] > 0
    assert check(c.post("/v1/reset"), "/v1/reset") == {"reset": True}

    made = check(c.post("/v1/admin/keys", json={"role": "admin", "name": "ops"}), "/v1/admin/keys")
    c.headers["Authorization"] = f"Bearer {made['key']}"  # keys are required from now on
    user_key = check(c.post("/v1/admin/keys", json={"role": "user", "user_id": "ana"}), "/v1/admin/keys")
    assert check(c.get("/v1/admin/keys"), "/v1/admin/keys")["results"]
    revoked = check(c.delete(f"/v1/admin/keys/{user_key['id']}"), "/v1/admin/keys/{key_id}")
    assert revoked["revoked_at"] is not None

    v1 = {r for r in json_routes(check.spec) if r[1].startswith("/v1/")}
    unchecked = {(m, p) for m, p in v1} - {(m, p) for m, p, _ in check.checked | PIPELINE_ONLY}
    assert not unchecked, f"never called: {sorted(unchecked)}"


def test_mem0_answers_match_their_schema(served: httpx.Client) -> None:
    c, check = served, SchemaCheck.served_by(served)
    body = {"messages": [{"role": "user", "content": "I love sushi"}], "user_id": "bo", "agent_id": "chef"}
    added = check(c.post("/memories", json=body), "/memories")
    assert added["notice"] and added["mode"] == "fast"  # infer (mem0's default) without an LLM
    plain = {"messages": "I moved to Porto", "user_id": "bo", "infer": False, "metadata": {"k": 1}}
    porto = check(c.post("/memories", json={**plain, "event_id": "m-1"}), "/memories")
    assert "notice" not in porto and porto["event_id"] == "m-1"
    porto_id = porto["results"][0]["id"]
    assert check(c.post("/memories", json=plain), "/memories")["results"][0]["event"] == "NONE"

    listed = check(c.get("/memories", params={"user_id": "bo"}), "/memories")["results"]
    assert {m.get("agent_id") for m in listed} == {"chef", None}
    item = check(c.get(f"/memories/{porto_id}"), "/memories/{memory_id}")
    assert item["metadata"] == {"k": 1} and item["score"] is None
    hits = check(c.post("/search", json={"query": "where does bo live", "user_id": "bo"}), "/search")
    assert isinstance(hits["results"][0]["score"], float)
    put = c.put(f"/memories/{porto_id}", json={"text": "I moved to Faro", "metadata": {"k": 2}})
    assert check(put, "/memories/{memory_id}")["message"]
    rows = check(c.get(f"/memories/{porto_id}/history"), "/memories/{memory_id}/history")
    assert [r["event"] for r in rows] == ["ADD", "UPDATE"] and rows[0]["updated_at"] is None
    assert check(c.delete(f"/memories/{porto_id}"), "/memories/{memory_id}")["message"]
    assert check(c.delete("/memories", params={"user_id": "bo"}), "/memories")["message"]
    assert check(c.post("/reset"), "/reset")["message"]

    mem0 = {r for r in json_routes(check.spec) if not r[1].startswith("/v1/")}
    unchecked = mem0 - {(m, p) for m, p, _ in check.checked | PIPELINE_ONLY}
    assert not unchecked, f"never called: {sorted(unchecked)}"


EXTRACTION = {
    "facts": [{"text": "Carol's sister Dana lives in Lisbon", "sources": [0]}],
    "relations": [
        {"source": "Carol", "relation": "sister_of", "target": "Dana", "fact": 0},
        {"source": "Dana", "relation": "lives_in", "target": "Lisbon", "fact": 0},
    ],
}


def test_fine_mode_answers_match_their_schema(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> None:
    """Fine mode adds ``llm`` and ``relations``; a graph search adds ``relations``."""
    fake_llm.reply_json(EXTRACTION)
    fake_llm.reply_json({"facts": [{"text": "Carol grows tomatoes", "sources": [0]}], "relations": []})
    settings = llm_settings(tmp_path, fake_llm.base_url)
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        check = SchemaCheck.served_by(c)
        turn = {"messages": [{"role": "user", "content": "My sister Dana lives in Lisbon."}], "user_id": "carol"}
        added = check(c.post("/v1/memories", json=turn), "/v1/memories")
        assert added["mode"] == "fine" and added["llm"]["calls"] == 1 and added["relations"]["added_entities"]
        query = {"query": "Where is Carol's family?", "user_id": "carol", "graph_hops": 2}
        found = check(c.post("/v1/memories/search", json=query), "/v1/memories/search")
        assert found["relations"] and found["relations"][0]["memory_ids"]
        mem0 = check(c.post("/memories", json={"messages": "I grow tomatoes", "user_id": "carol"}), "/memories")
        assert mem0["mode"] == "fine" and mem0["llm"]["calls"] >= 1 and "relations" in mem0
