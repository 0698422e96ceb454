"""Rejected requests: the right status, an error body naming the field, and an untouched store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    MAX_BODY_BYTES,
    MAX_LIMIT,
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES,
    add,
    count,
    error_of,
)

JSON = {"content-type": "application/json"}


def snapshot(client: httpx.Client) -> list[tuple[Any, ...]]:
    """Everything stored for the test's scopes, with each memory's history length."""
    rows: list[tuple[Any, ...]] = []
    for user in ("alice", "bob"):
        for m in client.get("/v1/memories", params={"user_id": user}).json()["results"]:
            events = len(client.get(f"/v1/memories/{m['id']}/history").json()["results"])
            rows.append((user, m["id"], m["text"], json.dumps(m["metadata"]), m["updated_at"], events))
    return sorted(rows)


@pytest.fixture(scope="module")
def stored(module_client: httpx.Client) -> tuple[str, list[tuple[Any, ...]]]:
    """Two memories of alice and one of bob, stored once for the module; and their snapshot."""
    ids = [r["id"] for r in add(module_client, ["alice fact one", "alice fact two"], metadata={"topic": "a"})]
    add(module_client, "bob fact", user_id="bob")
    before = snapshot(module_client)
    assert len(before) == 3
    return ids[0], before


@pytest.fixture
def seeded(module_client: httpx.Client, stored: tuple[str, list[tuple[Any, ...]]]) -> Iterator[str]:
    """The id of a stored memory; after the test, asserts that nothing stored has changed."""
    yield stored[0]
    assert snapshot(module_client) == stored[1]


def _memory_post(**body: Any) -> tuple[str, str, dict[str, Any]]:
    return ("POST", "/v1/memories", {"json": body})


ALICE = {"user_id": "alice"}
# (request, expected status, expected field); every one is rejected and changes nothing.
CASES: dict[str, tuple[tuple[str, str, dict[str, Any]], int, str]] = {
    "empty message": (_memory_post(messages="", **ALICE), 422, "messages.0"),
    "blank message content": (
        _memory_post(messages=[{"content": "   "}], **ALICE),
        422,
        "messages.0.content",
    ),
    "empty message list": (_memory_post(messages=[], **ALICE), 422, "messages"),
    # In year 10000 once in UTC: stored, it made every later read of the user fail.
    "timestamp past year 9999 in UTC": (
        _memory_post(messages="hi", timestamp="9999-12-31T23:00:00-05:00", **ALICE),
        422,
        "timestamp",
    ),
    "message timestamp before year 1 in UTC": (
        _memory_post(messages=[{"content": "hi", "timestamp": "0001-01-01T00:00:00+05:00"}], **ALICE),
        422,
        "messages.0.timestamp",
    ),
    "filter integer beyond 64 bits": (
        ("POST", "/v1/memories/list", {"json": {**ALICE, "filters": {"n": {"gte": 2**63}}}}),
        422,
        "filters.n.gte",
    ),
    "mem0 search filter integer beyond 64 bits": (
        ("POST", "/search", {"json": {**ALICE, "query": "q", "filters": {"n": {"in": [1, -(2**63) - 1]}}}}),
        422,
        "filters.n.in",
    ),
    "oversized message": (_memory_post(messages="x" * (MAX_MESSAGE_CHARS + 1), **ALICE), 413, "messages.0"),
    "too many messages": (
        _memory_post(messages=[f"m{i}" for i in range(MAX_MESSAGES + 1)], **ALICE),
        413,
        "messages",
    ),
    "messages missing": (_memory_post(**ALICE), 422, "messages"),
    "messages of wrong type": (_memory_post(messages=42, **ALICE), 422, "messages"),
    "content of wrong type": (_memory_post(messages=[{"content": 5}], **ALICE), 422, "messages.0.content"),
    "unknown role": (
        _memory_post(messages=[{"content": "x", "role": "robot"}], **ALICE),
        422,
        "messages.0.role",
    ),
    # a message id is an identifier: a boolean was stored as the source id "True"
    "message id of wrong type": (_memory_post(messages=[{"content": "x", "id": True}], **ALICE), 422, "messages.0.id"),
    "message id too long": (_memory_post(messages=[{"content": "x", "id": "m" * 600}], **ALICE), 422, "messages.0.id"),
    "missing scope on add": (_memory_post(messages="hello"), 422, "user_id"),
    "empty user_id": (_memory_post(messages="hello", user_id=""), 422, "user_id"),
    "user_id of wrong type": (_memory_post(messages="hello", user_id=7), 422, "user_id"),
    "metadata of wrong type": (_memory_post(messages="hello", metadata=[1], **ALICE), 422, "metadata"),
    "bad timestamp": (_memory_post(messages="hello", timestamp="yesterday", **ALICE), 422, "timestamp"),
    "unknown field": (_memory_post(messages="hello", userid="alice", **ALICE), 422, "userid"),
    "unknown mode": (_memory_post(messages="hello", mode="turbo", **ALICE), 422, "mode"),
    "fine mode needs an LLM": (_memory_post(messages="hello", mode="fine", **ALICE), 501, "mode"),
    "missing scope on list": (("GET", "/v1/memories", {}), 422, "user_id"),
    "missing scope on delete all": (("DELETE", "/v1/memories", {}), 422, "user_id"),
    "missing scope on search": (("POST", "/v1/memories/search", {"json": {"query": "fact"}}), 422, "user_id"),
    "missing scope on mem0 add": (("POST", "/memories", {"json": {"messages": "x"}}), 422, "user_id"),
    "missing scope on mem0 list": (("GET", "/memories", {}), 422, "user_id"),
    "missing scope on mem0 delete all": (("DELETE", "/memories", {}), 422, "user_id"),
    "missing scope on mem0 search": (("POST", "/search", {"json": {"query": "fact"}}), 422, "user_id"),
    "filters not JSON in GET": (
        ("GET", "/v1/memories", {"params": {**ALICE, "filters": "{oops"}}),
        422,
        "filters",
    ),
    "filters not an object in GET": (
        ("GET", "/v1/memories", {"params": {**ALICE, "filters": "[1]"}}),
        422,
        "filters",
    ),
    "filters not an object in POST": (
        ("POST", "/v1/memories/list", {"json": {**ALICE, "filters": "x"}}),
        422,
        "filters",
    ),
    "unknown filter operator": (
        ("POST", "/v1/memories/list", {"json": {**ALICE, "filters": {"topic": {"near": 1}}}}),
        422,
        "filters.topic.near",
    ),
    "malformed filter in search": (
        ("POST", "/v1/memories/search", {"json": {**ALICE, "query": "q", "filters": {"AND": "x"}}}),
        422,
        "filters.AND",
    ),
    "limit over max in GET": (
        ("GET", "/v1/memories", {"params": {**ALICE, "limit": MAX_LIMIT + 1}}),
        422,
        "limit",
    ),
    "limit not a number in GET": (
        ("GET", "/v1/memories", {"params": {**ALICE, "limit": "ten"}}),
        422,
        "limit",
    ),
    "unknown query parameter": (("GET", "/v1/memories", {"params": {**ALICE, "userid": "x"}}), 422, "userid"),
    "negative offset": (("POST", "/v1/memories/list", {"json": {**ALICE, "offset": -1}}), 422, "offset"),
    "bad as_of": (("GET", "/v1/memories", {"params": {**ALICE, "as_of": "last week"}}), 422, "as_of"),
    "limit over max in search": (
        ("POST", "/v1/memories/search", {"json": {**ALICE, "query": "q", "limit": MAX_LIMIT + 1}}),
        422,
        "limit",
    ),
    "limit as string in search": (
        ("POST", "/v1/memories/search", {"json": {**ALICE, "query": "q", "limit": "5"}}),
        422,
        "limit",
    ),
    "threshold out of range": (
        ("POST", "/v1/memories/search", {"json": {**ALICE, "query": "q", "threshold": 5}}),
        422,
        "threshold",
    ),
    "explain not a boolean": (
        ("POST", "/v1/memories/search", {"json": {**ALICE, "query": "q", "explain": "yes"}}),
        422,
        "explain",
    ),
    "empty query": (("POST", "/v1/memories/search", {"json": {**ALICE, "query": " "}}), 422, "query"),
    "mem0 top_k of wrong type": (
        ("POST", "/search", {"json": {**ALICE, "query": "q", "top_k": "x"}}),
        422,
        "top_k",
    ),
    "unknown id: get": (("GET", "/v1/memories/no-such-id", {}), 404, "memory_id"),
    "unknown id: update": (("PATCH", "/v1/memories/no-such-id", {"json": {"text": "x"}}), 404, "memory_id"),
    "unknown id: delete": (("DELETE", "/v1/memories/no-such-id", {}), 404, "memory_id"),
    "unknown id: history": (("GET", "/v1/memories/no-such-id/history", {}), 404, "memory_id"),
    "unknown id: mem0 get": (("GET", "/memories/no-such-id", {}), 404, "memory_id"),
    "unknown id: mem0 update": (("PUT", "/memories/no-such-id", {"json": {"text": "x"}}), 404, "memory_id"),
    "unknown id: mem0 delete": (("DELETE", "/memories/no-such-id", {}), 404, "memory_id"),
    "unknown id: mem0 history": (("GET", "/memories/no-such-id/history", {}), 404, "memory_id"),
    "malformed JSON": (
        ("POST", "/v1/memories", {"content": b'{"messages": "hi", ', "headers": JSON}),
        400,
        "body",
    ),
    "invalid UTF-8 bytes": (
        (
            "POST",
            "/v1/memories",
            {"content": b'{"messages": "caf\xe9", "user_id": "alice"}', "headers": JSON},
        ),
        400,
        "body",
    ),
    "lone surrogate escape in a scope": (
        ("POST", "/v1/memories", {"content": b'{"messages": "hi", "user_id": "\\ud800"}', "headers": JSON}),
        422,
        "user_id",
    ),
    "lone surrogate escape in metadata": (
        (
            "POST",
            "/memories",
            {
                "content": b'{"messages": "hi", "user_id": "alice", "metadata": {"k": "\\udfff"}}',
                "headers": JSON,
            },
        ),
        422,
        "metadata.k",
    ),
    # SQLite's JSON functions end a string at a NUL and read a 20-digit integer as a float: filters
    # on such metadata would match what they should not (and miss what they should).
    "NUL in a metadata string": (
        _memory_post(messages="hello", metadata={"tag": "work\x00secret"}, **ALICE), 422, "metadata.tag"
    ),
    "NUL in a metadata key": (_memory_post(messages="hello", metadata={"a\x00b": 1}, **ALICE), 422, "metadata"),
    "integer beyond 64 bits in metadata": (
        _memory_post(messages="hello", metadata={"ids": [1, 10**20]}, **ALICE), 422, "metadata.ids.1"
    ),
    "lone surrogate escape in a GET filter": (
        ("GET", "/v1/memories", {"params": {**ALICE, "filters": '{"topic": "\\ud800"}'}}),
        422,
        "filters.topic",
    ),
    "body not JSON (no content type)": (("POST", "/v1/memories", {"content": b"hello"}), 422, "body"),
    "missing body": (("POST", "/v1/memories", {}), 422, "body"),
    "body is a JSON list": (("POST", "/v1/memories/search", {"json": [1, 2]}), 422, "body"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_rejected_request_names_the_field_and_changes_nothing(
    module_client: httpx.Client, seeded: str, case: str
) -> None:
    (method, path, kwargs), status, field = CASES[case]
    error = error_of(module_client.request(method, path, **kwargs), status)
    assert error["field"] == field, error


def test_bad_updates_change_nothing(module_client: httpx.Client, seeded: str) -> None:
    assert error_of(module_client.patch(f"/v1/memories/{seeded}", json={}), 422)["field"] == "text"
    assert error_of(module_client.patch(f"/v1/memories/{seeded}", json={"text": ""}), 422)["field"] == "text"
    too_long = {"text": "y" * (MAX_MESSAGE_CHARS + 1)}
    assert error_of(module_client.patch(f"/v1/memories/{seeded}", json=too_long), 413)["field"] == "text"
    bad_meta = {"text": "changed", "metadata": "nope"}
    assert error_of(module_client.patch(f"/v1/memories/{seeded}", json=bad_meta), 422)["field"] == "metadata"
    assert error_of(module_client.put(f"/memories/{seeded}", json={"text": 3}), 422)["field"] == "text"
    assert error_of(module_client.get(f"/v1/memories/{seeded}/history", params={"user_id": "bob"}), 404)


def test_validation_error_lists_every_problem(module_client: httpx.Client, seeded: str) -> None:
    r = module_client.post("/v1/memories/search", json={"user_id": 1, "limit": "x"})
    error = error_of(r, 422)
    listed = {e["field"] for e in error["details"]["errors"]}
    assert {"query", "user_id", "limit"} <= listed and error["field"] in listed


def test_ten_megabyte_body_is_refused_fast(module_client: httpx.Client, seeded: str) -> None:
    payload = b'{"messages": "' + b"x" * (10 * 1024 * 1024) + b'", "user_id": "alice"}'
    started = time.monotonic()
    error = error_of(module_client.post("/v1/memories", content=payload, headers=JSON), 413)
    assert time.monotonic() - started < 5
    assert error["field"] == "body" and error["details"]["limit_bytes"] == MAX_BODY_BYTES


def test_chunked_body_is_counted_while_streaming(module_client: httpx.Client, seeded: str) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"user_id": "alice", "messages": "'
        for _ in range(100):  # 10 MB, no Content-Length
            sent += 100_000
            yield b"x" * 100_000
        yield b'"}'

    started = time.monotonic()
    error = error_of(module_client.post("/v1/memories", content=chunks(), headers=JSON), 413)
    assert error["field"] == "body" and time.monotonic() - started < 5


def test_body_at_the_limit_is_accepted_and_one_byte_more_is_not(client: httpx.Client) -> None:
    start = b'{"user_id": "alice", "messages": "a fact at the limit"'
    exact = start + b" " * (MAX_BODY_BYTES - len(start) - 1) + b"}"
    assert len(exact) == MAX_BODY_BYTES
    assert client.post("/v1/memories", content=exact, headers=JSON).status_code == 200
    over = start + b" " * (MAX_BODY_BYTES - len(start)) + b"}"
    assert error_of(client.post("/v1/memories", content=over, headers=JSON), 413)["field"] == "body"
    listed = client.get("/v1/memories", params={"user_id": "alice"}).json()["results"]
    assert [m["text"] for m in listed] == ["a fact at the limit"]


def test_unknown_route_and_wrong_method(module_client: httpx.Client, seeded: str) -> None:
    assert error_of(module_client.get("/v2/memories"), 404)["code"] == "not_found"
    wrong = module_client.put("/v1/memories")
    assert error_of(wrong, 405)["code"] == "method_not_allowed" and "allow" in wrong.headers
    for path in ("/v1/memories", "/health/live", "/v1/memories/no-such-id"):
        refused = module_client.request("OPTIONS", path)
        allowed = [m.strip() for m in error_of(refused, 405) and refused.headers["allow"].split(",")]
        for method in allowed:  # every method the 405 names is answered (a 4xx for what is missing)
            kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            assert module_client.request(method, path, **kwargs).status_code != 405, (path, method)


def test_a_query_of_nul_only_is_refused_like_a_message_of_nul_only(client: httpx.Client) -> None:
    search = client.post("/v1/memories/search", json={"query": "\u0000\u0000 ", "user_id": "alice"})
    assert error_of(search, 422)["field"] == "query"
    assert error_of(client.post("/search", json={"query": "\u0000", "user_id": "alice"}), 422)["field"] == "query"


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_metadata_too_deep_to_answer_is_refused_not_stored(client: httpx.Client) -> None:
    """Metadata nested 300 levels was stored (200), after which every list and search of that user
    answered 500: no JSON encoder writes a response that deep."""
    deep = {"a": _nested(300)}
    cases = [
        ("POST", "/v1/memories", {"messages": "deep note", "user_id": "alice", "metadata": deep}),
        ("POST", "/memories", {"messages": [{"role": "user", "content": "deep note"}], "user_id": "alice",
                               "metadata": deep}),  # fmt: skip
    ]
    for method, path, body in cases:
        error = error_of(client.request(method, path, json=body), 422)
        assert error["field"].startswith("metadata.a.0.0"), error
        assert "levels" in error["message"]
    stored = add(client, "a shallow note", metadata={"a": _nested(60)})  # deep, but within the limit
    for method, path, body in [
        ("PATCH", f"/v1/memories/{stored[0]['id']}", {"metadata": deep}),
        ("PUT", f"/memories/{stored[0]['id']}", {"metadata": deep}),
    ]:
        assert error_of(client.request(method, path, json=body), 422)["field"].startswith("metadata.a")
    listed = client.get("/v1/memories", params={"user_id": "alice"})
    assert listed.status_code == 200, listed.text
    assert [m["text"] for m in listed.json()["results"]] == ["a shallow note"]
    assert listed.json()["results"][0]["metadata"] == {"a": _nested(60)}
    found = client.post("/search", json={"query": "note", "user_id": "alice"})
    assert found.status_code == 200 and len(found.json()["results"]) == 1, found.text


def test_a_query_or_path_that_is_not_utf8_is_refused_not_read_as_another_user(client: httpx.Client) -> None:
    r = client.post("/v1/memories", json={"messages": "I am the replacement-char user", "user_id": "\ufffd"})
    assert r.status_code == 200, r.text
    # %FF read with replacement characters would be "\ufffd": that user's memories would go
    for method, url, field in [
        ("DELETE", "/memories?user_id=%FF", "user_id"),
        ("DELETE", "/v1/memories?user_id=%FF", "user_id"),
        ("GET", "/v1/memories?user_id=%ED%A0%80", "user_id"),  # a lone surrogate, UTF-8 encoded
        ("GET", "/v1/memories?user_id=x&%FF=1", "query"),
        ("GET", "/v1/memories/%FF", "path"),
    ]:
        error = error_of(client.request(method, url), 400)
        assert error["field"] == field and "UTF-8" in error["message"], (url, error)
    listed = client.get("/v1/memories", params={"user_id": "\ufffd"}).json()
    assert listed["total"] >= 1  # still there
    assert client.get("/v1/memories", params={"user_id": "ana", "filters": '{"x": "caf\u00e9"}'}).status_code == 200


def test_bodies_that_are_text_but_not_readable_values_say_why(client: httpx.Client) -> None:
    huge = b'{"messages": "x", "user_id": "alice", "metadata": {"n": 1' + b"0" * 5000 + b"}}"
    body = error_of(client.post("/v1/memories", content=huge, headers={"content-type": "application/json"}), 400)
    assert body["field"] == "body" and "4,300 digits" in body["message"]
    deep = b'{"messages": "x", "user_id": "alice", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    nested = error_of(client.post("/v1/memories", content=deep, headers={"content-type": "application/json"}), 400)
    assert "nests too deeply" in nested["message"]
    filters = client.get("/v1/memories", params={"user_id": "alice", "filters": '{"n": 1' + "0" * 5000 + "}"})
    refused = error_of(filters, 422)
    assert refused["field"] == "filters" and "4,300 digits" in refused["message"]
    assert "sys.set_int_max_str_digits" not in refused["message"]  # no Python advice to a client
    odd_key = b'{"messages": "hi", "user_id": "alice", "\\ud800": 1}'
    keyed = error_of(client.post("/v1/memories", content=odd_key, headers={"content-type": "application/json"}), 422)
    assert keyed["field"] == "body" and "lone surrogate" in keyed["message"]
    assert count(client) == 0  # nothing stored by any of them
