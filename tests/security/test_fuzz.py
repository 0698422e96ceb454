"""Fuzz every operation of the OpenAPI schema with schemathesis, against a real server.

The schema is the app's own (``create_app(...).openapi()``, built at collection
time with the same settings as the server, so routes added later are fuzzed
without a change here; ``test_the_fuzzed_schema_is_the_served_one`` checks that
it is the one ``/openapi.json`` serves). Each operation gets valid and invalid
requests (schemathesis' positive and negative modes), derandomised so CI runs
the same cases every time. Every response must:

- not be a 5xx (501 only where a feature is documented as off here);
- have a documented status code, content type and headers (``Allow`` on 405);
- match the documented body schema for its status;
- arrive within ``CALL_TIMEOUT_S`` (no hang);
- reject schema-invalid input with a 4xx.

Not checked: that every schema-valid request succeeds. "At least one of
user_id, agent_id, run_id", non-blank text and the limits set at run time are
rules JSON Schema does not carry; the server answers them with a 422 naming the
field. So that valid cases still reach the code behind those rules, half of
the schema-valid cases are *steered* (:func:`_steer`): a missing scope, a blank
query or message, an empty update get a usable value, and a ``memory_id`` path
parameter becomes the id of a memory that exists. The other half go as
generated. Requests are counted per operation in ``FUZZ_TALLY``; the terminal
summary prints the total and the statuses seen.
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from memoryd.server import create_app
from tests.security.conftest import FUZZ_TALLY, FuzzServer, fuzz_settings

pytestmark = pytest.mark.slow  # ~30 s; CI runs it (nothing deselects "slow")

CALL_TIMEOUT_S = 15.0
MAX_EXAMPLES = 30  # per operation and generation mode
SCOPE = ("user_id", "agent_id", "run_id")
FUZZ_USER = "fuzz-user"  # the steered scope, and the owner of the memories made for routes by id
# Text fields that must not be blank, and what a steered case puts there.
STEERED_TEXT = {
    "query": "where does the user live",
    "messages": "I moved to Lisbon in May",
    "text": "new text",
}


def _app_schema() -> dict[str, Any]:
    """The OpenAPI document of an app built like the fuzz server's (nothing is opened)."""
    app = create_app(
        fuzz_settings(Path(tempfile.gettempdir()) / "unopened" / "fuzz.db", "http://127.0.0.1:9/v1")
    )
    return app.openapi()


CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": "all"},
        "request-timeout": CALL_TIMEOUT_S,
        "checks": {"positive_data_acceptance": {"enabled": False}},  # see the module docstring
        "operations": [
            {  # the async pipeline is off here: looking up an event is a documented 501, not a crash
                "include-path": "/v1/events/{event_id}",
                "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", 501]}},
            },
            {  # mem0's procedural and expiring memories, which memoryd lacks: a documented 501
                "include-path": "/memories",
                "include-method": "POST",
                "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", 501]}},
            },
        ],
    }
)
SCHEMA = schemathesis.openapi.from_dict(_app_schema(), config=CONFIG)


@pytest.fixture(scope="module")
def session(fuzz_server: FuzzServer) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers.update(fuzz_server.headers)
        yield s


def _coin(*parts: Any) -> bool:
    """A fair coin that lands the same way for the same case in every run (unlike ``hash``)."""
    return zlib.crc32(repr(parts).encode("utf-8", "surrogatepass")) % 2 == 0


def _live_id(session: requests.Session, url: str) -> str:
    """The id of a memory that exists now (added for the purpose)."""
    r = session.post(
        f"{url}/v1/memories",
        json={"messages": "fuzz seed: I live in Lisbon", "user_id": FUZZ_USER},
        timeout=CALL_TIMEOUT_S,
    )
    r.raise_for_status()
    memory_id: str = r.json()["results"][0]["id"]
    return memory_id


def _body_fields(case: schemathesis.Case) -> set[str]:
    """The property names of the operation's JSON body schema (empty when it has none)."""
    body = case.operation.definition.raw.get("requestBody", {})
    schema = body.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = SCHEMA.raw_schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return set(schema.get("properties", {}))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _steer_messages(messages: Any) -> Any:
    """``messages`` with every blank text replaced (its shape kept)."""
    text = STEERED_TEXT["messages"]
    if isinstance(messages, list) and messages:
        return [_steer_messages(m) for m in messages]
    if isinstance(messages, dict):
        steered = {"role": "user"} | messages  # chat shapes need a role; memoryd's default is "user"
        return steered | {"content": text} if _blank(steered.get("content")) else steered
    return text if _blank(messages) else messages


def _steer(case: schemathesis.Case, session: requests.Session, url: str) -> None:
    """Make a schema-valid case pass the rules JSON Schema cannot state (see the module docstring)."""
    if "memory_id" in (case.path_parameters or {}):
        case.path_parameters["memory_id"] = _live_id(session, url)
    if SCOPE[0] in {p.name for p in case.operation.query}:
        query = dict(case.query or {})
        if all(_blank(query.get(k)) for k in SCOPE):
            case.query = {k: v for k, v in query.items() if k not in SCOPE} | {"user_id": FUZZ_USER}
    fields = _body_fields(case)
    if not fields or not isinstance(case.body, dict):
        return
    body = dict(case.body)
    if SCOPE[0] in fields and all(_blank(body.get(k)) for k in SCOPE):
        body = {k: v for k, v in body.items() if k not in SCOPE} | {"user_id": FUZZ_USER}
    for name, text in STEERED_TEXT.items():
        if name in fields and name != "messages" and _blank(body.get(name)):
            body[name] = text
    if "messages" in fields:
        body["messages"] = _steer_messages(body.get("messages"))
    case.body = body


def test_the_fuzzed_schema_is_the_served_one(fuzz_server: FuzzServer, session: requests.Session) -> None:
    served = session.get(f"{fuzz_server.url}/openapi.json", timeout=CALL_TIMEOUT_S).json()
    assert served == _app_schema()
    assert len(SCHEMA.raw_schema["paths"]) >= 10


@SCHEMA.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(
    case: schemathesis.Case, fuzz_server: FuzzServer, session: requests.Session
) -> None:
    label = case.operation.label
    positive = case.meta is not None and not case.meta.generation.mode.is_negative
    if positive and _coin(label, case.path_parameters, case.query, case.body):
        _steer(case, session, fuzz_server.url)
    FUZZ_TALLY.cases[label] += 1
    try:
        response = case.call(base_url=fuzz_server.url, session=session, timeout=CALL_TIMEOUT_S)
        FUZZ_TALLY.statuses[label][response.status_code] += 1
        case.validate_response(response)
    except BaseException:
        FUZZ_TALLY.failed.add(label)
        raise
