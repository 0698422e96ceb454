"""Requests a server could read two ways, over real HTTP: a JSON key given twice, mem0's ``limit``
and ``top_k`` with two values, a number past a float's range, arguments sent to reset (which
takes none). Each is refused naming the field and changes nothing, never read one of the ways."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import add, count, error_of

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/v1/memories",
            b'{"messages": "I like tea", "user_id": "ana", "user_id": "bob"}',
            "user_id",
        ),
        ("POST", "/memories", b'{"messages": "I like tea", "user_id": "ana", "user_id": "bob"}', "user_id"),
        (
            "POST",
            "/v1/memories",
            b'{"messages": "I like tea", "user_id": "bob", "metadata": {"k": 1, "k": 2}}',
            "metadata.k",
        ),
        (
            "POST",
            "/memories",
            b'{"messages": [{"content": "I like tea", "content": "I hate tea"}], "user_id": "bob"}',
            "messages.0.content",
        ),
        ("POST", "/search", b'{"query": "tea", "user_id": "ana", "user_id": "bob"}', "user_id"),
        ("POST", "/v1/memories/search", b'{"query": "tea", "user_id": "ana", "user_id": "bob"}', "user_id"),
    ],
)
def test_a_json_key_given_twice_is_refused_naming_its_path_and_stores_nothing(
    client: httpx.Client, method: str, path: str, body: bytes, field: str
) -> None:
    add(client, "I am Ana", user_id="ana")
    error = error_of(client.request(method, path, content=body, headers=JSON), 422)
    assert error["field"] == field and "more than once" in error["message"], error
    assert count(client, user_id="ana") == 1 and count(client, user_id="bob") == 0


def test_a_json_key_given_twice_in_an_update_changes_nothing(client: httpx.Client) -> None:
    memory_id = add(client, "I live in Paris", user_id="ana")[0]["id"]
    for method, path in (("PUT", f"/memories/{memory_id}"), ("PATCH", f"/v1/memories/{memory_id}")):
        body = b'{"text": "I live in Rome", "text": "I live in Oslo"}'
        error = error_of(client.request(method, path, content=body, headers=JSON), 422)
        assert error["field"] == "text", error
    assert client.get(f"/v1/memories/{memory_id}").json()["memory"] == "I live in Paris"
    # The same key in two objects is no repetition.
    body = b'{"text": "I live in Rome", "metadata": {"a": {"k": 1}, "b": {"k": 2}}}'
    assert client.patch(f"/v1/memories/{memory_id}", content=body, headers=JSON).status_code == 200


def test_mem0_limit_and_top_k_with_two_values_are_refused(client: httpx.Client) -> None:
    for i in range(3):
        add(client, f"I like tea number {i}", user_id="ana")
    error = error_of(
        client.post("/search", json={"query": "tea", "user_id": "ana", "limit": 1, "top_k": 3}), 422
    )
    assert error["field"] == "top_k" and "give one" in error["message"], error
    error = error_of(client.get("/memories", params={"user_id": "ana", "limit": 1, "top_k": 3}), 422)
    assert error["field"] == "top_k", error
    # One of them, or both with one value, is read as before.
    both = client.post("/search", json={"query": "tea", "user_id": "ana", "limit": 2, "top_k": 2})
    assert both.status_code == 200 and len(both.json()["results"]) == 2, both.text
    listed = client.get("/memories", params={"user_id": "ana", "top_k": 1})
    assert listed.status_code == 200 and len(listed.json()["results"]) == 1, listed.text


def test_a_number_past_a_floats_range_in_a_filter_is_refused_not_read_as_infinity(
    client: httpx.Client,
) -> None:
    add(client, "I like tea", user_id="ana", metadata={"n": 5})
    for method, path, body, field in [
        ("POST", "/v1/memories/list", b'{"user_id": "ana", "filters": {"n": {"lt": 1e400}}}', "filters.n.lt"),
        (
            "POST",
            "/search",
            b'{"query": "tea", "user_id": "ana", "filters": {"n": {"gt": -1e400}}}',
            "filters.n.gt",
        ),
    ]:
        error = error_of(client.request(method, path, content=body, headers=JSON), 422)
        assert error["field"] == field and "out of range" in error["message"], error
    params = {"user_id": "ana", "filters": '{"n": {"lt": 1e400}}'}
    assert error_of(client.get("/v1/memories", params=params), 422)["field"] == "filters.n.lt"
    assert error_of(client.get("/v1/memories", params={**params, "filters": '{"n": Infinity}'}), 422)
    body = b'{"messages": "x", "user_id": "ana", "metadata": {"deep": [1, 1e400]}}'
    assert (
        error_of(client.post("/v1/memories", content=body, headers=JSON), 422)["field"] == "metadata.deep.1"
    )
    assert count(client, user_id="ana") == 1


@pytest.mark.parametrize("path", ["/reset", "/v1/reset"])
def test_reset_with_arguments_erases_nothing(client: httpx.Client, path: str) -> None:
    add(client, "I am Ana", user_id="ana")
    add(client, "I am Bob", user_id="bob")
    error = error_of(client.post(path, params={"user_id": "bob"}), 422)
    assert error["field"] == "user_id" and "nothing was erased" in error["message"], error
    assert error_of(client.post(path, json={"user_id": "bob"}), 422)["field"] == "user_id"
    assert error_of(client.post(path, content=b"[1]", headers=JSON), 422)["field"] == "body"
    assert count(client, user_id="ana") == 1 and count(client, user_id="bob") == 1
    # No arguments (no body, or an empty object) erases the store, as before.
    assert client.post(path, json={}).status_code == 200
    assert count(client, user_id="ana") == 0 and count(client, user_id="bob") == 0


def test_a_key_given_twice_in_the_filters_of_a_list_query_is_refused(client: httpx.Client) -> None:
    add(client, "I like tea", user_id="ana", metadata={"topic": "tea", "n": 1})
    for filters, field in [
        ('{"topic": "coffee", "topic": "tea"}', "filters.topic"),
        ('{"n": {"gte": 0, "gte": 5}}', "filters.n.gte"),
    ]:
        error = error_of(client.get("/v1/memories", params={"user_id": "ana", "filters": filters}), 422)
        assert error["field"] == field and "more than once" in error["message"], error
    listed = client.get(
        "/v1/memories", params={"user_id": "ana", "filters": '{"topic": "tea", "kind": "episode"}'}
    )
    assert listed.status_code == 200 and listed.json()["total"] == 1, listed.text


def test_mem0_search_with_a_scope_and_another_in_its_filters_is_refused(client: httpx.Client) -> None:
    add(client, "I like tea", user_id="ana")
    add(client, "I like tea too", user_id="bob")
    for filters, field in [
        ({"user_id": "bob"}, "filters.user_id"),
        ({"AND": [{"run_id": "*"}, {"user_id": "bob"}]}, "filters.AND.1.user_id"),
    ]:
        refused = client.post("/search", json={"query": "tea", "user_id": "ana", "filters": filters})
        error = error_of(refused, 422)
        assert error["field"] == field and "give one" in error["message"], error
    # The same id both ways is one scope.
    same = client.post("/search", json={"query": "tea", "user_id": "ana", "filters": {"user_id": "ana"}})
    assert same.status_code == 200 and {h["user_id"] for h in same.json()["results"]} == {"ana"}, same.text
