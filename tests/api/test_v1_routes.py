"""The /v1 API over real HTTP: round trips, duplicates, scopes, filters, time and search options."""

from __future__ import annotations

import httpx

from tests.api.conftest import MAX_LIMIT, add, count, error_of


def test_round_trip_add_list_get_search_update_history_delete(client: httpx.Client) -> None:
    # a visit, not a move: "I moved to Lisbon" is also read as a home (a profile memory) in fast mode
    results = add(
        client,
        [{"role": "user", "content": "I visited Lisbon last spring"}, "My sister is called Ana"],
        metadata={"source": "chat"},
    )
    assert [r["event"] for r in results] == ["ADD", "ADD"]
    assert [r["index"] for r in results] == [0, 1]
    lisbon_id = results[0]["id"]

    page = client.get("/v1/memories", params={"user_id": "alice"}).json()
    # the default page (100) is capped by limits.max_limit
    assert page["total"] == 2 and page["offset"] == 0 and page["limit"] == MAX_LIMIT
    assert {m["text"] for m in page["results"]} == {
        "I visited Lisbon last spring",
        "My sister is called Ana",
    }

    got = client.get(f"/v1/memories/{lisbon_id}").json()
    assert got["id"] == lisbon_id and got["memory"] == got["text"] == "I visited Lisbon last spring"
    assert got["user_id"] == "alice" and got["metadata"] == {"source": "chat"} and got["kind"] == "episode"

    hits = client.post("/v1/memories/search", json={"query": "which city did she visit?", "user_id": "alice"})
    assert hits.status_code == 200
    assert hits.json()["results"][0]["id"] == lisbon_id

    patched = client.patch(f"/v1/memories/{lisbon_id}", json={"text": "I visited Porto last spring"})
    assert patched.status_code == 200
    assert patched.json()["text"] == "I visited Porto last spring" and patched.json()["event"] == "UPDATE"
    same = client.patch(f"/v1/memories/{lisbon_id}", json={"text": "I visited Porto last spring"})
    assert same.status_code == 200 and same.json()["event"] == "NOOP"  # what happened, said
    assert client.get(f"/v1/memories/{lisbon_id}").json()["text"] == "I visited Porto last spring"
    top = client.post("/v1/memories/search", json={"query": "Porto", "user_id": "alice"}).json()["results"]
    assert top[0]["id"] == lisbon_id

    history = client.get(f"/v1/memories/{lisbon_id}/history").json()["results"]
    assert [h["event"] for h in history] == ["ADD", "UPDATE", "NOOP"]  # the NOOP patch is recorded too
    assert history[0]["new_memory"] == "I visited Lisbon last spring"
    assert history[1]["old_memory"] == "I visited Lisbon last spring"
    assert history[1]["new_memory"] == "I visited Porto last spring"

    deleted = client.delete(f"/v1/memories/{lisbon_id}")
    assert deleted.status_code == 200
    gone = deleted.json()
    assert (gone["deleted"], gone["id"], gone["also_deleted"]) == (1, lisbon_id, [])
    assert (gone["memory"]["id"], gone["memory"]["text"]) == (lisbon_id, "I visited Porto last spring")
    assert error_of(client.get(f"/v1/memories/{lisbon_id}"), 404)["field"] == "memory_id"
    assert count(client) == 1
    history = client.get(f"/v1/memories/{lisbon_id}/history").json()["results"]
    assert [h["event"] for h in history] == ["ADD", "UPDATE", "NOOP", "DELETE"]

    assert client.delete("/v1/memories", params={"user_id": "alice"}).json() == {"deleted": 1}
    assert count(client) == 0


def test_exact_duplicate_is_a_noop(client: httpx.Client) -> None:
    first = add(client, "I like green tea")[0]
    again = add(client, ["I like green tea", "I also like coffee"])
    assert again[0]["event"] == "NOOP" and again[0]["id"] == first["id"] and "duplicate" in again[0]["reason"]
    assert again[1]["event"] == "ADD"
    assert count(client) == 2
    # the same text in another scope is not a duplicate
    assert add(client, "I like green tea", user_id="bob")[0]["event"] == "ADD"


def test_update_metadata_only_and_noop_update(client: httpx.Client) -> None:
    mid = add(client, "I play the cello")[0]["id"]
    same = client.patch(f"/v1/memories/{mid}", json={"text": "I play the cello"})
    assert same.status_code == 200 and same.json()["text"] == "I play the cello"
    meta = client.patch(f"/v1/memories/{mid}", json={"metadata": {"hobby": True}}).json()
    assert meta["text"] == "I play the cello" and meta["metadata"] == {"hobby": True}
    events = [h["event"] for h in client.get(f"/v1/memories/{mid}/history").json()["results"]]
    assert events == ["ADD", "NOOP", "UPDATE"]


def test_scope_isolation_through_every_route(client: httpx.Client) -> None:
    secret = add(client, "Alice's bank PIN hint: her first cat", user_id="alice")[0]["id"]
    add(client, "Bob likes jazz", user_id="bob")
    bob = {"user_id": "bob"}

    listed = client.get("/v1/memories", params=bob).json()["results"]
    assert [m["text"] for m in listed] == ["Bob likes jazz"]
    listed = client.post("/v1/memories/list", json=bob).json()["results"]
    assert [m["text"] for m in listed] == ["Bob likes jazz"]
    found = client.post("/v1/memories/search", json={"query": "bank PIN cat", **bob}).json()["results"]
    assert all(h["user_id"] == "bob" for h in found) and secret not in {h["id"] for h in found}
    assert error_of(client.get(f"/v1/memories/{secret}", params=bob), 404)["field"] == "memory_id"
    assert error_of(client.get(f"/v1/memories/{secret}/history", params=bob), 404)["field"] == "memory_id"
    assert error_of(client.patch(f"/v1/memories/{secret}", params=bob, json={"text": "hacked"}), 404)
    assert error_of(client.delete(f"/v1/memories/{secret}", params=bob), 404)
    assert client.delete("/v1/memories", params=bob).json() == {"deleted": 1}

    # through mem0's routes too
    assert client.get("/memories", params=bob).json() == {"results": []}
    assert client.post("/search", json={"query": "bank PIN", **bob}).json() == {"results": []}
    assert error_of(client.get(f"/memories/{secret}", params=bob), 404)
    assert error_of(client.put(f"/memories/{secret}", params=bob, json={"text": "hacked"}), 404)
    assert error_of(client.delete(f"/memories/{secret}", params=bob), 404)

    # alice's memory is untouched, and visible to alice
    mine = client.get(f"/v1/memories/{secret}", params={"user_id": "alice"}).json()
    assert mine["text"] == "Alice's bank PIN hint: her first cat"
    assert count(client, user_id="alice") == 1


def test_agent_and_run_scopes(client: httpx.Client) -> None:
    add(client, "run one note", user_id="alice", run_id="r1")
    add(client, "run two note", user_id="alice", run_id="r2")
    add(client, "agent note", user_id=None, agent_id="helper")
    assert count(client, user_id="alice") == 2
    r1 = client.get("/v1/memories", params={"user_id": "alice", "run_id": "r1"}).json()["results"]
    assert [m["text"] for m in r1] == ["run one note"]
    agent = client.get("/v1/memories", params={"agent_id": "helper"}).json()["results"]
    assert [(m["text"], m["agent_id"], m["user_id"]) for m in agent] == [("agent note", "helper", None)]


def test_filters_as_json_string_in_get_and_object_in_post(client: httpx.Client) -> None:
    add(client, "Trip to Kyoto in April", metadata={"topic": "travel", "stars": 5})
    add(client, "Best ramen in town", metadata={"topic": "food", "stars": 3})
    add(client, "Weekend in Porto", metadata={"topic": "travel", "stars": 2})

    got = client.get("/v1/memories", params={"user_id": "alice", "filters": '{"topic": "travel"}'}).json()
    assert got["total"] == 2
    assert {m["text"] for m in got["results"]} == {"Trip to Kyoto in April", "Weekend in Porto"}

    body = {"user_id": "alice", "filters": {"AND": [{"topic": "travel"}, {"stars": {"gte": 4}}]}}
    posted = client.post("/v1/memories/list", json=body).json()
    assert [m["text"] for m in posted["results"]] == ["Trip to Kyoto in April"]

    searched = client.post(
        "/v1/memories/search", json={"query": "trip", "user_id": "alice", "filters": {"topic": "food"}}
    ).json()["results"]
    assert [h["text"] for h in searched] == ["Best ramen in town"]


def test_paging(client: httpx.Client) -> None:
    add(client, [f"note number {i}" for i in range(5)])
    first = client.get("/v1/memories", params={"user_id": "alice", "limit": 2}).json()
    second = client.post("/v1/memories/list", json={"user_id": "alice", "limit": 2, "offset": 2}).json()
    assert first["total"] == second["total"] == 5
    assert len(first["results"]) == len(second["results"]) == 2
    assert not {m["id"] for m in first["results"]} & {m["id"] for m in second["results"]}


def test_as_of_sees_the_store_as_it_was(client: httpx.Client) -> None:
    add(client, [{"content": "I lived in Berlin", "timestamp": "2019-03-01T00:00:00Z"}])
    add(client, "I live in Madrid now")
    past = client.get("/v1/memories", params={"user_id": "alice", "as_of": "2020-01-01T00:00:00Z"}).json()
    assert [m["text"] for m in past["results"]] == ["I lived in Berlin"]
    assert past["results"][0]["event_time"].startswith("2019-03-01")
    body = {"user_id": "alice", "as_of": "2020-01-01T00:00:00Z"}
    assert [m["text"] for m in client.post("/v1/memories/list", json=body).json()["results"]] == [
        "I lived in Berlin"
    ]
    hits = client.post("/v1/memories/search", json={"query": "where do I live", **body}).json()["results"]
    assert [h["text"] for h in hits] == ["I lived in Berlin"]
    assert count(client) == 2


def test_an_add_answers_when_a_home_it_stored_already_ended(client: httpx.Client) -> None:
    results = add(client, ["I live in Oslo.", "I live in Bergen."])
    homes = {r["memory"]: r for r in results if r["kind"] == "profile"}
    assert set(homes) == {"The user lives in Oslo.", "The user lives in Bergen."}
    assert homes["The user lives in Oslo."]["event"] == "ADD"
    ended = homes["The user lives in Oslo."]["valid_to"]
    assert "valid_to" not in homes["The user lives in Bergen."]
    stored = client.get(f"/v1/memories/{homes['The user lives in Oslo.']['id']}").json()
    assert stored["valid_to"] == ended


def test_search_explain_limit_and_threshold(client: httpx.Client) -> None:
    add(client, ["The cat sleeps on the sofa", "Quarterly tax filing is due in May", "My cat is called Miso"])
    hits = client.post(
        "/v1/memories/search", json={"query": "cat", "user_id": "alice", "explain": True, "limit": 2}
    ).json()["results"]
    assert len(hits) == 2 and all("cat" in h["text"] for h in hits)
    assert hits[0]["score"] >= hits[1]["score"]
    for hit in hits:
        parts = hit["explain"]
        assert {"fused", "final", "dense_cosine", "dense_rank", "bm25", "bm25_rank", "method"} <= set(parts)
        assert parts["bm25"] is not None and -1 <= parts["dense_cosine"] <= 1
        # the weights that combine them, as the README says explain gives (they were missing)
        assert (parts["method"], parts["dense_weight"], parts["keyword_weight"]) == ("score", 0.7, 1.0)

    plain = client.post("/v1/memories/search", json={"query": "cat", "user_id": "alice"}).json()["results"]
    assert all("explain" not in h for h in plain)

    strict = {"query": "The cat sleeps on the sofa", "user_id": "alice", "threshold": 0.95}
    exact = client.post("/v1/memories/search", json=strict).json()["results"]
    assert [h["text"] for h in exact] == ["The cat sleeps on the sofa"]
    none = client.post(
        "/v1/memories/search", json={"query": "volcanic geology", "user_id": "alice", "threshold": 0.9}
    ).json()["results"]
    assert none == []


def test_chinese_text_add_and_keyword_search(client: httpx.Client) -> None:
    add(client, ["我喜欢在杭州西湖边散步", "明天下午三点开会", "我的猫叫小白"])
    hits = client.post("/v1/memories/search", json={"query": "西湖", "user_id": "alice", "explain": True})
    top = hits.json()["results"][0]
    assert top["text"] == "我喜欢在杭州西湖边散步"
    assert top["explain"]["bm25"] is not None
    listed = client.get("/v1/memories", params={"user_id": "alice"}).json()["results"]
    assert "我的猫叫小白" in {m["text"] for m in listed}


def test_reset_erases_every_scope(client: httpx.Client) -> None:
    mid = add(client, "soon gone", user_id="alice")[0]["id"]
    add(client, "also gone", user_id="bob")
    assert client.post("/v1/reset").json() == {"reset": True}
    assert count(client, user_id="alice") == 0 and count(client, user_id="bob") == 0
    assert error_of(client.get(f"/v1/memories/{mid}/history"), 404)["field"] == "memory_id"
    assert add(client, "soon gone")[0]["event"] == "ADD"  # the store still works


def test_concurrent_adds(client: httpx.Client, server: object) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = str(client.base_url)

    def one(i: int) -> int:
        with httpx.Client(base_url=url, timeout=30) as c:
            return c.post(
                "/v1/memories", json={"messages": f"parallel fact {i}", "user_id": "alice"}
            ).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, range(16))) == [200] * 16
    assert count(client) == 16


def test_deleting_a_turn_says_what_went_with_it(client: httpx.Client) -> None:
    """The rules' preference read in the turn alone goes with it: the answer counts and lists it
    (it said deleted: 1 while two memories went)."""
    results = add(client, "I love sushi")
    turn = next(r["id"] for r in results if r["kind"] == "episode")
    preference = next(r for r in results if r["kind"] == "preference")
    gone = client.delete(f"/v1/memories/{turn}").json()
    assert gone["deleted"] == 2 and gone["id"] == turn
    assert [(m["id"], m["text"]) for m in gone["also_deleted"]] == [(preference["id"], preference["memory"])]
    assert count(client) == 0


def test_editing_a_turn_says_what_its_new_text_changed(client: httpx.Client) -> None:
    """The rules read the edited text again: the answer lists the preference that came and the one
    that went (it listed only the edited turn)."""
    results = add(client, ["I love sushi", "I hate olives"])
    turn = next(r["id"] for r in results if r["memory"] == "I love sushi")
    sushi = next(r for r in results if r["memory"] == "The user loves sushi.")
    edited = client.patch(f"/v1/memories/{turn}", json={"text": "I love ramen and I hate olives"})
    body = edited.json()
    assert edited.status_code == 200 and (body["event"], body["text"]) == ("UPDATE", "I love ramen and I hate olives")
    derived = [(r["event"], r["memory"]) for r in body["derived"]]
    assert derived[0] == ("ADD", "The user loves ramen.")
    assert derived[1][0] == "NOOP" and "olives" in derived[1][1]  # stated by the other turn already
    assert derived[2:] == [("DELETE", "The user loves sushi.")] and body["derived"][2]["id"] == sushi["id"]
    assert body["derived"][2]["sources"] == [turn]
    kinds = client.get("/v1/memories", params={"user_id": "alice", "filters": '{"kind": "preference"}'})
    assert sorted(m["text"] for m in kinds.json()["results"]) == ["The user dislikes olives.", "The user loves ramen."]
