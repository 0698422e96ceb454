"""mem0-compatible routes over real HTTP: mem0's paths, field names and response shapes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.conftest import Running, add, count, error_of

ITEM_KEYS = {"id", "memory", "hash", "metadata", "score", "created_at", "updated_at"}
HISTORY_KEYS = {
    "id",
    "memory_id",
    "old_memory",
    "new_memory",
    "event",
    "created_at",
    "updated_at",
    "is_deleted",
    "actor_id",
    "role",
}


# Episodes only: nothing here states what fast mode's rules read as a profile ("I'm vegetarian"
# does: an extra profile memory would join the results).
SOUP = "I had lentil soup for dinner"
NOTED = "Noted, more soup recipes then."
STEW = "I had bean stew for dinner"


def test_mem0_round_trip(client: httpx.Client) -> None:
    created = client.post(
        "/memories",
        json={
            "messages": [
                {"role": "user", "content": SOUP},
                {"role": "assistant", "content": NOTED},
            ],
            "user_id": "alice",
            "metadata": {"category": "meals"},
        },
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert [(r["memory"], r["event"]) for r in body["results"]] == [
        (SOUP, "ADD"),
        (NOTED, "ADD"),
    ]
    assert all(set(r) == {"id", "memory", "event"} for r in body["results"])
    assert body["mode"] == "fast" and "infer" in body["notice"]  # infer defaults to true in mem0
    soup_id = body["results"][0]["id"]

    listed = client.get("/memories", params={"user_id": "alice"}).json()
    assert set(listed) == {"results"}
    assert {m["memory"] for m in listed["results"]} == {SOUP, NOTED}
    for item in listed["results"]:
        assert set(item) >= ITEM_KEYS and item["user_id"] == "alice" and item["score"] is None
        assert item["metadata"] == {"category": "meals"}

    item = client.get(f"/memories/{soup_id}").json()
    assert set(item) == ITEM_KEYS | {"user_id", "role"}
    assert (item["id"], item["memory"], item["role"]) == (soup_id, SOUP, "user")
    assert len(item["hash"]) == 64 and item["created_at"].endswith("+00:00")

    found = client.post("/search", json={"query": "what did she eat?", "user_id": "alice"}).json()
    assert set(found) == {"results"}
    assert found["results"][0]["id"] == soup_id and isinstance(found["results"][0]["score"], float)

    updated = client.put(f"/memories/{soup_id}", json={"text": STEW})
    assert updated.status_code == 200 and updated.json() == {"message": "Memory updated successfully!"}
    assert client.get(f"/memories/{soup_id}").json()["memory"] == STEW

    history = client.get(f"/memories/{soup_id}/history").json()
    assert isinstance(history, list) and all(set(h) == HISTORY_KEYS for h in history)
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, SOUP),
        ("UPDATE", SOUP, STEW),
    ]

    deleted = client.delete(f"/memories/{soup_id}")
    assert deleted.json() == {"message": "Memory deleted successfully"}
    assert error_of(client.get(f"/memories/{soup_id}"), 404)["field"] == "memory_id"
    last = client.get(f"/memories/{soup_id}/history").json()[-1]
    assert last["event"] == "DELETE" and last["is_deleted"] is True

    gone = client.delete("/memories", params={"user_id": "alice"})
    assert gone.json() == {"message": "All relevant memories deleted"}
    assert client.get("/memories", params={"user_id": "alice"}).json() == {"results": []}

    add(client, "kept until reset", user_id="bob")
    assert client.post("/reset").json() == {"message": "All memories reset"}
    assert count(client, user_id="bob") == 0


def test_mem0_infer_flag_and_duplicates(client: httpx.Client) -> None:
    quiet = client.post("/memories", json={"messages": "I ski", "user_id": "alice", "infer": False}).json()
    assert quiet["mode"] == "fast" and "notice" not in quiet
    loud = client.post("/memories", json={"messages": ["I ski", "I surf"], "user_id": "alice", "infer": True})
    body = loud.json()
    assert body["mode"] == "fast" and body["notice"]
    assert [r["event"] for r in body["results"]] == ["NONE", "ADD"]  # mem0's word for a no-op
    assert body["results"][0]["id"] == quiet["results"][0]["id"]
    assert count(client) == 2


def test_mem0_ignores_unknown_fields(client: httpx.Client) -> None:
    r = client.post(
        "/memories",
        json={
            "messages": [{"role": "user", "content": "hi"}],
            "user_id": "alice",
            "prompt": "x",
            "version": "v2",
        },
    )
    assert r.status_code == 200 and r.json()["results"][0]["event"] == "ADD"


def test_mem0_search_options(client: httpx.Client) -> None:
    add(client, ["red apples", "green apples", "yellow bananas", "a blue car"], metadata={"kind": "fruit"})
    # mem0 v2 style: the scope inside filters, top_k for the count
    hits = client.post(
        "/search", json={"query": "apples", "filters": {"user_id": "alice"}, "top_k": 2}
    ).json()
    assert len(hits["results"]) == 2 and all("apples" in h["memory"] for h in hits["results"])
    assert all(h["user_id"] == "alice" for h in hits["results"])
    one = client.post("/search", json={"query": "apples", "user_id": "alice", "limit": 1}).json()
    assert len(one["results"]) == 1
    strict = client.post(
        "/search", json={"query": "a blue car", "user_id": "alice", "threshold": 0.95}
    ).json()
    assert [h["memory"] for h in strict["results"]] == ["a blue car"]
    # as mem0's, a hit's score is its similarity: every hit's is at least the threshold asked for
    loose = client.post("/search", json={"query": "fruit", "user_id": "alice", "threshold": 0.05}).json()
    assert len(loose["results"]) >= 3 and all(h["score"] >= 0.05 for h in loose["results"])
    filtered = client.post(
        "/search", json={"query": "apples", "user_id": "alice", "filters": {"metadata.kind": "vehicle"}}
    ).json()
    assert filtered == {"results": []}
    # "kind" is memoryd's own field (episode, fact, ...): a value it never has is a 422 saying so
    mistaken = client.post("/search", json={"query": "apples", "user_id": "alice", "filters": {"kind": "vehicle"}})
    assert mistaken.status_code == 422 and "metadata.kind" in mistaken.json()["error"]["message"]


def test_mem0_search_reads_ids_as_mem0_filters_write_them(client: httpx.Client) -> None:
    add(client, "I play tennis on Sundays", run_id="s1")
    add(client, "I play tennis on Sundays", user_id="bob")

    def found(body: dict[str, object]) -> list[str]:
        r = client.post("/search", json={"query": "sport", **body})
        assert r.status_code == 200, r.text
        return [h["memory"] for h in r.json()["results"] if h["user_id"] == "alice"]

    tennis = ["I play tennis on Sundays"]
    # "*" is any value, as on /v1: a condition on the session, not a session named "*"
    assert found({"user_id": "alice", "filters": {"run_id": "*"}}) == tennis
    assert found({"filters": {"user_id": "alice", "run_id": "*"}}) == tennis
    # mem0's own form: the ids as conditions of a top-level AND
    assert found({"filters": {"AND": [{"user_id": "alice"}, {"run_id": "*"}]}}) == tennis
    assert found({"filters": {"AND": [{"user_id": "alice"}]}}) == tennis
    both = client.post("/search", json={"query": "sport", "filters": {"AND": [{"user_id": "alice"}]}}).json()
    assert {h["user_id"] for h in both["results"]} == {"alice"}  # bob's twin stays out
    assert found({"filters": {"AND": [{"user_id": "alice"}, {"run_id": "s2"}]}}) == []
    v1 = client.post(
        "/v1/memories/search", json={"query": "sport", "user_id": "alice", "filters": {"run_id": "*"}}
    ).json()
    assert [h["text"] for h in v1["results"] if h["kind"] == "episode"] == tennis
    # a top_k out of range is refused even next to a valid limit
    r = client.post("/search", json={"query": "sport", "user_id": "alice", "limit": 5, "top_k": -3})
    assert error_of(r, 422)["field"] == "top_k"


def test_mem0_update_accepts_data_and_metadata(client: httpx.Client) -> None:
    mid = add(client, "old words")[0]["id"]
    assert client.put(f"/memories/{mid}", json={"data": "new words"}).status_code == 200
    assert client.put(f"/memories/{mid}", json={"metadata": {"pinned": True}}).status_code == 200
    item = client.get(f"/memories/{mid}").json()
    assert item["memory"] == "new words" and item["metadata"] == {"pinned": True}
    assert error_of(client.put(f"/memories/{mid}", json={}), 422)["field"] == "text"


def test_root_redirects_to_docs(client: httpx.Client) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/docs"


def test_mem0_features_memoryd_lacks_are_refused_not_ignored(client: httpx.Client) -> None:
    # mem0 would write a procedural summary, or hide the memory after its date: storing the
    # messages as plain memories instead would be a silent change of meaning
    for field, value in (("memory_type", "procedural_memory"), ("expiration_date", "2030-01-01")):
        r = client.post(
            "/memories", json={"messages": "step one: open the door", "agent_id": "bot", field: value}
        )
        error = error_of(r, 501)
        assert error["field"] == field and error["code"] == "not_supported", error
    assert count(client, agent_id="bot") == 0
    # null is mem0's default: not asking for the feature
    r = client.post("/memories", json={"messages": "hi", "user_id": "alice", "memory_type": None})
    assert r.status_code == 200, r.text


def test_mem0_configure_is_refused_saying_where_configuration_goes(client: httpx.Client) -> None:
    """mem0's server takes a new configuration over HTTP; memoryd answered 404 (or 405) as if the
    route did not exist: a client configuring at start-up learns why and where to set it."""
    config = {"vector_store": {"provider": "qdrant", "config": {"host": "localhost"}}}
    error = error_of(client.post("/configure", json=config), 501)
    assert error["field"] == "config" and error["code"] == "not_supported", error
    assert "MEMORYD_" in error["message"] and "nothing was changed" in error["message"]
    assert client.post("/memories", json={"messages": "I had soup", "user_id": "cfg"}).status_code == 200


def test_mem0_add_keeps_the_timestamp(client: httpx.Client) -> None:
    r = client.post(
        "/memories", json={"messages": "I moved to Lisbon", "user_id": "alice", "timestamp": 1704067200}
    )
    assert r.status_code == 200, r.text
    mid = r.json()["results"][0]["id"]
    assert client.get(f"/v1/memories/{mid}").json()["event_time"].startswith("2024-01-01T00:00:00")
    bad = client.post("/memories", json={"messages": "x", "user_id": "alice", "timestamp": "yesterday-ish"})
    assert error_of(bad, 422)["field"] == "timestamp"


def test_mem0_counts_default_and_top_k_as_mem0s(client: httpx.Client) -> None:
    notes = [f"travel note number {i}" for i in range(30)]
    add(client, notes[:15])
    add(client, notes[15:])
    # no count asked: mem0's default top_k (20), not memoryd's own search default (10)
    found = client.post("/search", json={"query": "travel note", "user_id": "alice"})
    assert found.status_code == 200, found.text
    assert len(found.json()["results"]) == 20
    # mem0 v2 lists with top_k: a cap, as limit is
    listed = client.get("/memories", params={"user_id": "alice", "top_k": "3"})
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["results"]) == 3
    assert error_of(client.get("/memories", params={"user_id": "alice", "top_k": "0"}), 422)["field"] == "top_k"


def test_mem0_history_times_read_as_mem0s(client: httpx.Client) -> None:
    mid = add(client, "I live in Porto")[0]["id"]
    created = client.get(f"/memories/{mid}").json()["created_at"]
    assert client.put(f"/memories/{mid}", json={"text": "I live in Lisbon"}).status_code == 200
    assert client.delete(f"/memories/{mid}").status_code == 200
    rows = client.get(f"/memories/{mid}/history").json()
    assert [r["event"] for r in rows] == ["ADD", "UPDATE", "DELETE"]
    # as in mem0's table: created_at is the memory's creation, updated_at when each change was made
    assert all(r["created_at"] == created for r in rows)
    assert rows[0]["updated_at"] is None
    assert created < rows[1]["updated_at"] <= rows[2]["updated_at"]


def test_mem0_update_merges_metadata_as_mem0_does(client: httpx.Client) -> None:
    mid = add(client, "the sky is blue", metadata={"color": "blue", "n": 3})[0]["id"]
    r = client.put(f"/memories/{mid}", json={"metadata": {"n": 4, "seen": True}})
    assert r.status_code == 200, r.text
    # mem0 sets the keys given and keeps the others: a client adding one key loses none
    assert client.get(f"/memories/{mid}").json()["metadata"] == {"color": "blue", "n": 4, "seen": True}
    assert client.put(f"/memories/{mid}", json={"text": "the sky is grey"}).status_code == 200
    assert client.get(f"/memories/{mid}").json()["metadata"] == {"color": "blue", "n": 4, "seen": True}
    # /v1's PATCH still replaces it whole
    assert client.patch(f"/v1/memories/{mid}", json={"metadata": {"n": 5}}).status_code == 200
    assert client.get(f"/memories/{mid}").json()["metadata"] == {"n": 5}
    assert error_of(client.put("/memories/nope", json={"metadata": {"a": 1}}), 404)["field"] == "memory_id"


def test_mem0_updates_of_other_keys_at_once_all_land(server: Running) -> None:
    """Each PUT read the metadata, then wrote it back with its key: concurrent PUTs of other keys
    of one memory each wrote over the others' (one key left of twelve). The merge now happens
    under the memory owner's write lock."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        mid = add(http, "the sky is blue", metadata={"color": "blue"})[0]["id"]

    async def put_all() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            puts = [http.put(f"/memories/{mid}", json={"metadata": {f"k{i}": i}}) for i in range(12)]
            return [r.status_code for r in await asyncio.gather(*puts)]

    assert asyncio.run(put_all()) == [200] * 12
    with httpx.Client(base_url=server.url, timeout=30) as http:
        metadata = http.get(f"/memories/{mid}").json()["metadata"]
    assert metadata == {"color": "blue", **{f"k{i}": i for i in range(12)}}


PROMPT = "You are a helpful cooking assistant"


def test_mem0_fast_add_leaves_system_messages_out_as_mem0_does(client: httpx.Client) -> None:
    """mem0 stores every message of an add without its LLM except the system ones (the app's
    prompt is not a memory of the user): the same conversation posted here stores the same."""
    conversation = [{"role": "system", "content": PROMPT}, {"role": "user", "content": SOUP}]
    for infer in (False, True):  # True: no LLM here, so the messages are stored as given too
        r = client.post("/memories", json={"messages": conversation, "user_id": "alice", "infer": infer})
        assert r.status_code == 200, r.text
        assert [row["memory"] for row in r.json()["results"]] == [SOUP]
    listed = client.get("/memories", params={"user_id": "alice"}).json()["results"]
    assert [m["memory"] for m in listed] == [SOUP] and count(client) == 1
    found = client.post("/search", json={"query": PROMPT, "user_id": "alice"}).json()["results"]
    assert [m["memory"] for m in found] == [SOUP]

    only_prompt = {"messages": [conversation[0]], "user_id": "alice", "infer": False}
    r = client.post("/memories", json=only_prompt)
    assert r.status_code == 200 and r.json()["results"] == [] and count(client) == 1
    # left out, still read: a bad message is named where the caller put it, and a scope is required
    bad = {"messages": [conversation[0], {"role": "user", "content": ""}], "user_id": "alice"}
    assert error_of(client.post("/memories", json=bad), 422)["field"] == "messages.1.content"
    unscoped = client.post("/memories", json={"messages": [conversation[0]], "infer": False})
    assert error_of(unscoped, 422)["field"] == "user_id"
    assert error_of(client.post("/memories", json={"messages": [], "user_id": "alice"}), 422)["field"] == "messages"
    for infer in (False, None):  # messages null is no system prompt alone: refused, not an empty success
        nothing = {"messages": None, "user_id": "alice", "infer": infer}
        assert error_of(client.post("/memories", json=nothing), 422)["field"] == "messages"


def test_mem0_search_filters_on_actor_id_as_its_items_name_the_speaker(client: httpx.Client) -> None:
    """A message's ``name`` is its speaker, which mem0 stores and items show as ``actor_id``: a
    filter on ``actor_id`` (as mem0 filters group chats) finds that speaker's memories."""
    said = [{"role": "user", "content": SOUP, "name": "ana"}, {"role": "user", "content": STEW, "name": "ben"}]
    assert client.post("/memories", json={"messages": said, "user_id": "alice", "infer": False}).status_code == 200
    items = client.get("/memories", params={"user_id": "alice"}).json()["results"]
    assert {m["memory"]: m["actor_id"] for m in items} == {SOUP: "ana", STEW: "ben"}

    def found(filters: dict[str, Any]) -> list[str]:
        r = client.post("/search", json={"query": "dinner", "user_id": "alice", "filters": filters})
        assert r.status_code == 200, r.text
        return [m["memory"] for m in r.json()["results"]]

    assert found({"actor_id": "ana"}) == [SOUP]
    assert found({"actor_id": {"in": ["ben"]}}) == [STEW]
    assert found({"AND": [{"user_id": "alice"}, {"actor_id": "ben"}]}) == [STEW]
    assert sorted(found({"OR": [{"actor_id": "ana"}, {"actor_id": "ben"}]})) == sorted([SOUP, STEW])
    assert found({"NOT": [{"actor_id": "ana"}]}) == [STEW]
    two = {"query": "dinner", "user_id": "alice", "filters": {"actor_id": "ana", "actor": "ben"}}
    assert error_of(client.post("/search", json=two), 422)["field"] == "filters.actor_id"
