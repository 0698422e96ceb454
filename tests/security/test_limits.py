"""Every request limit, on both route families: refused with 413/422 naming the field, and
accepted at the limit. Plus regressions for what fuzzing found.

The server is the fuzz server's twin (``tests/security/conftest.py``): limits
from ``FUZZ_LIMITS``, authentication on, the scripted LLM on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from memoryd.errors import InvalidInputError
from memoryd.filters import MAX_FILTER_TERMS
from memoryd.models import MAX_SCOPE_ID_CHARS, Scope
from tests.api.conftest import error_of
from tests.security.conftest import FUZZ_LIMITS, FuzzServer

MAX_BODY = FUZZ_LIMITS["max_body_bytes"]
MAX_MESSAGES = FUZZ_LIMITS["max_messages_per_add"]
MAX_CHARS = FUZZ_LIMITS["max_message_chars"]
MAX_LIMIT = FUZZ_LIMITS["max_limit"]
MAX_QUERY = FUZZ_LIMITS["max_query_chars"]
MAX_DEPTH = FUZZ_LIMITS["max_filter_depth"]
ALICE = {"user_id": "alice"}


@pytest.fixture(scope="module")
def client(fuzz_server: FuzzServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_server.url, headers=fuzz_server.headers, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def memory_id(client: httpx.Client) -> str:
    r = client.post("/v1/memories", json={"messages": "alice lives in Porto", "mode": "fast", **ALICE})
    assert r.status_code == 200, r.text
    found: str = r.json()["results"][0]["id"]
    return found


def nested(depth: int) -> dict[str, Any]:
    """A filter exactly ``depth`` levels deep."""
    node: dict[str, Any] = {"topic": "x"}
    for _ in range(depth - 1):
        node = {"NOT": node}
    return node


def wide(terms: int) -> dict[str, Any]:
    """A filter of ``terms`` terms: an OR of conditions, the last one an ``in`` list."""
    return {"OR": [{"n": i} for i in range(terms // 2)] + [{"n": {"in": list(range(terms - terms // 2))}}]}


def search(path: str, **body: Any) -> tuple[str, str, dict[str, Any]]:
    return ("POST", path, {"json": {"query": "where", **ALICE, **body}})


def listing(**extra: Any) -> tuple[str, str, dict[str, Any]]:
    return ("POST", "/v1/memories/list", {"json": {**ALICE, **extra}})


def get_list(path: str, **params: Any) -> tuple[str, str, dict[str, Any]]:
    return ("GET", path, {"params": {**ALICE, **params}})


def add(path: str, messages: Any) -> tuple[str, str, dict[str, Any]]:
    return ("POST", path, {"json": {"messages": messages, **ALICE}})


OVERSIZED = {"messages": "x" * MAX_BODY, **ALICE}
# name: (request, status, field). "{id}" in a path becomes a real memory's id.
OVER: dict[str, tuple[tuple[str, str, dict[str, Any]], int, str]] = {
    "body: v1 add": (("POST", "/v1/memories", {"json": OVERSIZED}), 413, "body"),
    "body: mem0 add": (("POST", "/memories", {"json": OVERSIZED}), 413, "body"),
    "body: mem0 update": (("PUT", "/memories/{id}", {"json": {"text": "x" * MAX_BODY}}), 413, "body"),
    "body: v1 search": (search("/v1/memories/search", query="x" * MAX_BODY), 413, "body"),
    "messages per add: v1": (add("/v1/memories", ["m"] * (MAX_MESSAGES + 1)), 413, "messages"),
    "messages per add: mem0": (add("/memories", ["m"] * (MAX_MESSAGES + 1)), 413, "messages"),
    "message length: v1": (add("/v1/memories", "x" * (MAX_CHARS + 1)), 413, "messages.0"),
    "message length: v1 object": (
        add("/v1/memories", [{"content": "x" * (MAX_CHARS + 1)}]),
        413,
        "messages.0.content",
    ),
    "message length: mem0": (add("/memories", ["ok", "x" * (MAX_CHARS + 1)]), 413, "messages.1"),
    "message length: v1 update": (
        ("PATCH", "/v1/memories/{id}", {"json": {"text": "x" * (MAX_CHARS + 1)}}),
        413,
        "text",
    ),
    "message length: mem0 update": (
        ("PUT", "/memories/{id}", {"json": {"text": "x" * (MAX_CHARS + 1)}}),
        413,
        "text",
    ),
    "limit: v1 list": (get_list("/v1/memories", limit=MAX_LIMIT + 1), 422, "limit"),
    "limit: v1 list (POST)": (listing(limit=MAX_LIMIT + 1), 422, "limit"),
    "limit: v1 search": (search("/v1/memories/search", limit=MAX_LIMIT + 1), 422, "limit"),
    "limit: mem0 list": (get_list("/memories", limit=MAX_LIMIT + 1), 422, "limit"),
    "limit: mem0 search": (search("/search", limit=MAX_LIMIT + 1), 422, "limit"),
    "limit: mem0 search top_k": (search("/search", top_k=MAX_LIMIT + 1), 422, "top_k"),
    "limit: mem0 search top_k 0": (search("/search", top_k=0), 422, "top_k"),
    "filter depth: v1 list": (
        get_list("/v1/memories", filters=json.dumps(nested(MAX_DEPTH + 1))),
        422,
        "filters" + ".NOT" * MAX_DEPTH,
    ),
    "filter depth: v1 list (POST)": (
        listing(filters=nested(MAX_DEPTH + 1)),
        422,
        "filters" + ".NOT" * MAX_DEPTH,
    ),
    "filter depth: v1 search": (
        search("/v1/memories/search", filters=nested(MAX_DEPTH + 1)),
        422,
        "filters" + ".NOT" * MAX_DEPTH,
    ),
    "filter depth: mem0 search": (
        search("/search", filters=nested(MAX_DEPTH + 1)),
        422,
        "filters" + ".NOT" * MAX_DEPTH,
    ),
    "filter depth: JSON nested past the parser": (
        get_list("/v1/memories", filters='{"a": ' + "[" * 5000 + "]" * 5000 + "}"),
        422,
        "filters",
    ),
    "filter size: v1 list": (listing(filters=wide(MAX_FILTER_TERMS + 1)), 422, "filters"),
    "filter size: v1 list in": (listing(filters={"n": {"in": list(range(5000))}}), 422, "filters"),
    "filter size: v1 search": (search("/v1/memories/search", filters=wide(3000)), 422, "filters"),
    "filter size: mem0 search": (search("/search", filters=wide(MAX_FILTER_TERMS + 1)), 422, "filters"),
    "query length: v1 search": (search("/v1/memories/search", query="q" * (MAX_QUERY + 1)), 413, "query"),
    "query length: v1 context": (search("/v1/context", query="q" * (MAX_QUERY + 1)), 413, "query"),
    "query length: mem0 search": (search("/search", query="q" * (MAX_QUERY + 1)), 413, "query"),
}

AT: dict[str, tuple[str, str, dict[str, Any]]] = {
    "messages per add: v1": add("/v1/memories", [f"fact {i}" for i in range(MAX_MESSAGES)]),
    "messages per add: mem0": add("/memories", [f"note {i}" for i in range(MAX_MESSAGES)]),
    "message length: v1": add("/v1/memories", "y" * MAX_CHARS),
    "message length: mem0 update": ("PUT", "/memories/{id}", {"json": {"text": "z" * MAX_CHARS}}),
    "limit: v1 list": get_list("/v1/memories", limit=MAX_LIMIT),
    "limit: mem0 list": get_list("/memories", limit=MAX_LIMIT),
    "limit: mem0 search top_k": search("/search", top_k=MAX_LIMIT),
    "filter depth: v1 list": listing(filters=nested(MAX_DEPTH)),
    "filter depth: mem0 search": search("/search", filters=nested(MAX_DEPTH)),
    "filter size: v1 list": listing(filters=wide(MAX_FILTER_TERMS)),
    "filter size: v1 search": search("/v1/memories/search", filters=wide(MAX_FILTER_TERMS)),
    "query length: v1 context": search("/v1/context", query="q" * MAX_QUERY),
    "query length: mem0 search": search("/search", query="q" * MAX_QUERY),
}


def _send(client: httpx.Client, request: tuple[str, str, dict[str, Any]], memory_id: str) -> httpx.Response:
    method, path, kwargs = request
    return client.request(method, path.replace("{id}", memory_id), **kwargs)


@pytest.mark.parametrize("case", list(OVER), ids=list(OVER))
def test_over_the_limit_is_refused_naming_the_field(client: httpx.Client, memory_id: str, case: str) -> None:
    request, status, field = OVER[case]
    error = error_of(_send(client, request, memory_id), status)
    assert error["field"] == field, error
    assert error["code"] in ("payload_too_large", "invalid_input", "invalid_filter"), error


@pytest.mark.parametrize("case", list(AT), ids=list(AT))
def test_at_the_limit_is_accepted(client: httpx.Client, memory_id: str, case: str) -> None:
    r = _send(client, AT[case], memory_id)
    assert r.status_code == 200, r.text


def test_wrong_method_lists_every_method_of_the_path(client: httpx.Client, memory_id: str) -> None:
    """Regression (fuzz): Starlette's 405 named only the first route of the path in ``Allow``."""
    for path, methods in [
        ("/v1/memories", {"GET", "POST", "DELETE"}),
        (f"/v1/memories/{memory_id}", {"GET", "PATCH", "DELETE"}),
        ("/memories", {"GET", "POST", "DELETE"}),
        (f"/memories/{memory_id}", {"GET", "PUT", "DELETE"}),
    ]:
        r = client.request("OPTIONS", path)
        error_of(r, 405)
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        assert allowed - {"HEAD"} == methods, (path, r.headers["allow"])


def test_null_message_fields_are_accepted_and_documented(client: httpx.Client) -> None:
    """Regression (fuzz): ``name``/``id``/``timestamp`` of a message may be null; the schema said string."""
    message = {"content": "alice has a cat", "role": "user", "name": None, "id": None, "timestamp": None}
    for path in ("/v1/memories", "/memories"):
        r = client.post(path, json={"messages": [message], **ALICE})
        assert r.status_code == 200, r.text
    schema = client.get("/openapi.json").json()["components"]["schemas"]["AddRequest"]["properties"][
        "messages"
    ]
    fields = schema["anyOf"][1]["properties"]
    for name in ("name", "id", "timestamp"):
        assert {"type": "null"} in fields[name]["anyOf"], (name, fields[name])


def test_scope_ids_are_identifiers_not_documents() -> None:
    Scope(user_id="u" * MAX_SCOPE_ID_CHARS)
    with pytest.raises(InvalidInputError) as err:
        Scope(user_id="u" * (MAX_SCOPE_ID_CHARS + 1))
    assert err.value.field == "user_id"
