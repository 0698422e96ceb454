"""Check real answers against the body schema ``/openapi.json`` declares for their route and status.

The schema is the one the server serves. Objects are checked closed: an object schema that
lists its ``properties`` (and says nothing of others) takes no other key here, so a field a
route adds without its model fails, as does one it drops, renames or retypes. Free-form
objects (``metadata``, ``explain``) stay open. ``date-time`` strings must be ISO 8601 with an
offset (jsonschema checks that format only with an optional package, absent here).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import httpx
from jsonschema import Draft202012Validator, FormatChecker

__all__ = ["SchemaCheck", "json_routes", "names_its_fields"]

GATEWAY_TAG = "chat gateway"  # OpenAI's shapes, documented by the gateway itself
MEM0_TAG = "mem0-compatible"


def json_routes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """``(method, path)`` of every route under ``/v1`` (but the chat gateway's) and every mem0 route."""
    routes = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            tags = op.get("tags", [])
            if (path.startswith("/v1/") and GATEWAY_TAG not in tags) or MEM0_TAG in tags:
                routes.append((method, path))
    return routes


def _closed(node: Any) -> Any:
    if isinstance(node, dict):
        out = {key: _closed(value) for key, value in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(value) for value in node]
    return node


def _iso_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the type is another keyword's business
    return datetime.fromisoformat(value).tzinfo is not None  # ValueError: not ISO 8601


FORMATS = FormatChecker()
FORMATS.checks("date-time", raises=ValueError)(_iso_time)


class SchemaCheck:
    """The served schema, and the (method, path, status) whose real answers were checked."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.components = _closed(copy.deepcopy(spec["components"]))
        self.checked: set[tuple[str, str, int]] = set()

    @classmethod
    def served_by(cls, client: httpx.Client) -> SchemaCheck:
        r = client.get("/openapi.json")
        assert r.status_code == 200, r.text
        return cls(r.json())

    def schema(self, method: str, path: str, status: int) -> dict[str, Any]:
        """The JSON body schema of an answer, as declared (``{}`` when none is)."""
        op = self.spec["paths"][path][method]
        answer = op["responses"].get(str(status))
        assert answer is not None, f"{method.upper()} {path} answered {status}, which is not documented"
        schema: dict[str, Any] = answer.get("content", {}).get("application/json", {}).get("schema", {})
        return schema

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def __call__(self, response: httpx.Response, path: str) -> Any:
        """Validate ``response`` (of the route ``path``, as the schema spells it) against a schema
        that must name the body's fields; return the body."""
        status = response.status_code
        assert 200 <= status < 300, f"{response.request.method} {path}: {status} {response.text}"
        return self.validate(response, path)

    def validate(self, response: httpx.Response, path: str) -> Any:
        """As calling it, for an answer of any status (a documented error body, say)."""
        method, status = response.request.method.lower(), response.status_code
        body = response.json()
        schema = self.schema(method, path, status)
        assert names_its_fields(self, schema), f"{method.upper()} {path} {status}: no body schema: {schema}"
        root = {**_closed(schema), "components": self.components}
        errors = sorted(Draft202012Validator(root, format_checker=FORMATS).iter_errors(body), key=str)
        assert not errors, (
            f"{method.upper()} {path} {status}: the body does not match its schema:\n"
            + "\n".join(f"- at {list(e.absolute_path)}: {e.message}" for e in errors[:10])
            + f"\nbody: {str(body)[:2000]}"
        )
        self.checked.add((method, path, status))
        return body


def names_its_fields(check: SchemaCheck, schema: dict[str, Any]) -> bool:
    """Whether a body schema says what is in the body: an object with properties, a list of such
    objects, or a choice between such bodies (never ``{}`` nor an open object)."""
    schema = check.resolve(schema)
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices:
        return all(names_its_fields(check, choice) for choice in choices)
    if schema.get("type") == "array":
        return names_its_fields(check, schema.get("items", {}))
    return schema.get("type") == "object" and bool(schema.get("properties"))
