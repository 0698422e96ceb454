"""Fallback across tiers, streams that fail before or after their first byte, degraded modes, /health."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from memoryd.gateway.inject import FENCE_OPEN
from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, add_memory, target

Q = [{"role": "user", "content": "What do you remember about me?"}]


def test_a_failing_tier_falls_back_to_the_next_and_says_which_served(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    fake_llm.fail(500, times=10)
    second.default_text("from the second tier")
    with gateway([[target(fake_llm, "primary")], [target(second, "backup")]]) as gw:
        raw = gw.client().chat.completions.with_raw_response.create(model="primary", messages=Q, user="ana")
        answer = raw.parse()
        labels = [t.label for t in gw.app.state.gateway.router.targets]
    assert answer.choices[0].message.content == "from the second tier"
    assert raw.headers["x-memoryd-target"] == labels[1]
    assert fake_llm.requests and second.last.json["model"] == "backup"  # each tier gets its own model


def test_a_model_goes_to_its_own_target_first(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    second.default_text("small model here")
    tiers = [[target(fake_llm, "big")], [target(second, "small")]]
    with gateway(tiers, gateway={"aliases": {"cheap": "small"}}) as gw:
        client = gw.client()
        assert client.chat.completions.create(model="cheap", messages=Q).choices[0].message.content == (
            "small model here"
        )
        models = {m.id: m for m in client.models.list().data}
        assert set(models) == {"big", "small", "cheap"}
        assert client.models.retrieve("cheap").model_dump()["memoryd"] == {"alias_of": "small"}
    assert fake_llm.requests == [] and second.last.json["model"] == "small"


def test_a_stream_that_fails_before_its_first_byte_falls_back(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    fake_llm.fail(503)
    fake_llm.hang(30)  # then silence: the wait for an answer (1 s) ends it
    second.default_text("rescued stream")
    tiers = [[target(fake_llm, "a")], [target(second, "b")]]
    with gateway(tiers, llm={"timeout_s": 1.0}, gateway={"answer_timeout_s": 1.0}) as gw:
        client = gw.client()
        for _ in range(2):
            stream = client.chat.completions.create(model="a", messages=Q, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "rescued stream"
    assert len(fake_llm.requests) == 2 and len(second.requests) == 2


@pytest.mark.parametrize("failure", [{"stream_error_after": 2}, {"stream_cut_after": 2}])
def test_a_stream_that_breaks_after_its_first_byte_ends_with_an_error_event(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any, failure: dict[str, int]
) -> None:
    second = fake_llm_factory()
    fake_llm.push(Reply(text="one two three four", **failure), times=2)
    with gateway([[target(fake_llm, "a")], [target(second, "b")]]) as gw:
        status, events = _streamed(gw, "a")
        assert status == 200
        assert events[-1] == b"" and b"data: [DONE]" not in events
        assert events[-2].startswith(b'data: {"error":') and b"upstream_stream_error" in events[-2]
        with pytest.raises(openai.APIError):
            list(gw.client().chat.completions.create(model="a", messages=Q, stream=True))
        health = gw.get("/health")
        assert gw.memories("ana") == []  # a broken answer is not remembered
    assert second.requests == []  # no fallback once the client has bytes
    assert health["checks"]["gateway"]["writeback"]["scheduled"] == 0


def _streamed(gw: Any, model: str) -> tuple[int, list[bytes]]:
    """A streamed chat call of ana's over raw HTTP: its status and its events."""
    body = {"model": model, "stream": True, "messages": Q, "user": "ana"}
    with gw.http() as http, http.stream("POST", "/v1/chat/completions", json=body) as r:
        return r.status_code, b"".join(r.iter_bytes()).split(b"\n\n")


def _chunk(delta: dict[str, Any], index: int = 0, finish: str | None = None) -> str:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "a", "choices": [choice]}
    return f"data: {json.dumps(body)}\n\n"


def test_a_stream_of_two_choices_cut_after_the_first_finishes_ends_with_an_error_event(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    role = {"role": "assistant", "content": ""}
    fake_llm.reply_raw(
        _chunk(role) + _chunk(role, 1) + _chunk({"content": "Short."}) + _chunk({"content": "A longer"}, 1)
        + _chunk({}, 0, "stop") + _chunk({"content": " second"}, 1)  # then the connection drops
    )  # fmt: skip
    with gateway([[target(fake_llm, "a")]]) as gw:
        stream = gw.client().chat.completions.create(model="a", messages=Q, n=2, stream=True, user="ana")
        texts = ["", ""]
        with pytest.raises(openai.APIError, match="ended before the answer was complete"):
            for chunk in stream:
                for choice in chunk.choices:
                    texts[choice.index] += choice.delta.content or ""
        health = gw.get("/health")
    assert texts == ["Short.", "A longer second"]  # the second choice was cut: the client is told
    assert health["checks"]["gateway"]["writeback"]["scheduled"] == 0


def test_every_upstream_down_is_a_503_in_openai_shape_and_health_says_so(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    fake_llm.default(Reply(status=502, text=None))
    second.default(Reply(status=503, text=None))
    llm = {"breaker_failures": 1, "breaker_cooldown_s": 600, "max_attempts": 2}
    with gateway([[target(fake_llm, "a")], [target(second, "b")]], llm=llm) as gw:
        with pytest.raises(openai.InternalServerError) as down:
            gw.client().chat.completions.create(model="a", messages=Q, user="ana")
        assert down.value.status_code == 503
        error = down.value.body
        assert (
            isinstance(error, dict)
            and error["code"] == "upstream_unavailable"
            and error["type"] == "server_error"
        )
        assert [f["target"] for f in error["failures"]] == [
            t.label for t in gw.app.state.gateway.router.targets
        ]
        with gw.http() as http:
            streamed = http.post("/v1/chat/completions", json={"model": "a", "messages": Q, "stream": True})
        assert streamed.status_code == 503 and streamed.json()["error"]["code"] == "upstream_unavailable"
        health = gw.get("/health")
        memories_still_work = gw.memories("ana")
    assert health["status"] == "degraded" and health["mode"] == "DegradedReady"
    assert health["checks"]["gateway"]["status"] == "unavailable"
    assert health["checks"]["storage"]["status"] == "ok" and memories_still_work == []


def test_an_upstream_refusing_the_request_is_relayed_not_retried(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    fake_llm.fail(400, message="tools[0].function.parameters is not a schema")
    with (
        gateway([[target(fake_llm, "a")], [target(second, "b")]]) as gw,
        pytest.raises(openai.BadRequestError) as bad,
    ):
        gw.client().chat.completions.create(model="a", messages=Q)
    assert "is not a schema" in bad.value.message
    assert second.requests == []


def test_a_gemini_key_refused_with_a_400_is_the_targets_failure_not_the_requests(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    # What Gemini answers to an invalid or revoked key: 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
    bad_key = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
    fake_llm.reply_body(bad_key, status=400, times=2)
    backup = fake_llm_factory()
    backup.default_text("from the backup tier")
    tiers = [[target(fake_llm, "gemini-x", "gemini")], [target(backup, "backup")]]
    with gateway(tiers) as gw:
        raw = gw.client().chat.completions.with_raw_response.create(model="gemini-x", messages=Q)
        stream = gw.client().chat.completions.create(model="gemini-x", messages=Q, stream=True)
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        labels = [t.label for t in gw.app.state.gateway.router.targets]
        gemini = gw.get("/health")["checks"]["gateway"]["targets"][labels[0]]
    assert raw.parse().choices[0].message.content == streamed == "from the backup tier"
    assert raw.headers["x-memoryd-target"] == labels[1] and len(fake_llm.requests) == 2
    assert gemini["failures"] == 2  # counted against the target, towards opening its breaker


def test_memory_store_down_chat_goes_on_without_memory(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.default_text("still here")
    with gateway([[target(fake_llm, "a")]]) as gw:
        add_memory(gw, "I keep bees", "ana")
        asyncio.run(gw.memory.storage.close())  # the database goes away under the running server
        raw = gw.client().chat.completions.with_raw_response.create(model="a", messages=Q, user="ana")
        assert raw.parse().choices[0].message.content == "still here"
        assert raw.headers["x-degraded-mode"] == "memory_unavailable"
        assert (
            raw.headers["x-memoryd-memory"] == "degraded"
            and raw.headers["x-memoryd-memories-injected"] == "0"
        )
        stream = gw.client().chat.completions.create(model="a", messages=Q, user="ana", stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "still here"
        with gw.http() as http:
            report = http.get("/health")
    assert all(FENCE_OPEN not in str(r.json["messages"]) for r in fake_llm.requests)
    assert report.status_code == 200
    body = report.json()
    assert (body["status"], body["mode"]) == ("degraded", "DegradedReady")
    assert body["checks"]["storage"]["status"] == "error"
    assert body["checks"]["gateway"]["memory"]["status"] == "memory_unavailable"


def test_a_slow_memory_store_is_skipped_after_its_timeout(gateway: GatewayFactory, fake_llm: Script) -> None:
    with gateway([[target(fake_llm, "a")]], gateway={"memory_timeout_s": 0.001}) as gw:
        add_memory(gw, "I keep bees", "ana")
        raw = gw.client().chat.completions.with_raw_response.create(model="a", messages=Q, user="ana")
    # 1 ms is less than any lookup takes (the query is embedded first): no memory this time.
    assert raw.headers["x-degraded-mode"] == "memory_timeout"
    assert FENCE_OPEN not in str(fake_llm.last.json["messages"])


def test_no_upstream_configured(tmp_path: Any, embedder: Any) -> None:
    from tests.api.conftest import make_settings, running_server

    with (
        running_server(make_settings(tmp_path / "x.db"), embedder) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        down = c.post("/v1/chat/completions", json={"model": "m", "messages": Q})
        models = c.get("/v1/models").json()
    assert down.status_code == 503 and down.json()["error"]["code"] == "no_upstream"
    assert "llm.model" in down.json()["error"]["message"]
    assert models == {"object": "list", "data": []}


def test_a_client_that_leaves_mid_stream_frees_the_upstream_and_stores_nothing(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.push(Reply(text=" ".join(f"w{i}" for i in range(50)), chunk_delay=0.05))
    fake_llm.default_text("next answer")
    with gateway([[target(fake_llm, "a")]]) as gw:
        with (
            gw.http() as http,
            http.stream(
                "POST",
                "/v1/chat/completions",
                json={"model": "a", "stream": True, "messages": Q, "user": "ana"},
            ) as r,
        ):
            first = next(r.iter_raw())
        assert first.startswith(b"data: {")
        # The server carries on: the next call is answered, and only it is remembered.
        answer = gw.client().chat.completions.create(model="a", messages=Q, user="ana")
        assert answer.choices[0].message.content == "next answer"
        stored = gw.wait_for_memories("ana", 2)
        health = gw.get("/health")
    assert sorted(m["text"] for m in stored) == ["What do you remember about me?", "next answer"]
    assert health["checks"]["gateway"]["writeback"]["scheduled"] == 1
    assert health["checks"]["gateway"]["counts"]["requests"] == 2


def test_a_reply_whose_usage_is_of_the_wrong_shape_falls_back(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    bad = {
        "id": "c1", "object": "chat.completion", "created": 0, "model": "primary",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": "n/a", "completion_tokens": 1},
    }  # fmt: skip
    fake_llm.reply_raw(json.dumps(bad), times=10)
    second.default_text("from the second tier")
    with gateway([[target(fake_llm, "primary")], [target(second, "backup")]]) as gw:
        answer = gw.client().chat.completions.create(model="primary", messages=Q, user="ana")
    assert answer.choices[0].message.content == "from the second tier"
    assert fake_llm.requests  # it was asked, and its reply refused


def test_a_target_whose_streams_keep_breaking_midway_opens_its_breaker_and_calls_fall_back(
    gateway: GatewayFactory, fake_llm: Script, fake_llm_factory: Any
) -> None:
    second = fake_llm_factory()
    second.default_text("backup answer")
    fake_llm.default(Reply(text="one two three four", stream_error_after=1))
    with gateway([[target(fake_llm, "a")], [target(second, "b")]]) as gw:
        outcomes = []
        for _ in range(5):
            try:
                stream = gw.client().chat.completions.create(model="a", messages=Q, stream=True)
                outcomes.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
            except openai.APIError:
                outcomes.append("broken")
        first = gw.get("/health")["checks"]["gateway"]["targets"][gw.app.state.gateway.router.targets[0].label]
    # three broken streams in a row count as three failures: the breaker opens, the next calls fall back
    assert outcomes == ["broken"] * 3 + ["backup answer"] * 2
    assert (first["state"], first["failures"], first["successes"]) == ("open", 3, 0)


@pytest.mark.parametrize("provider", ["custom", "gemini"])
def test_a_complete_stream_whose_upstream_keeps_the_connection_open_is_a_success(
    gateway: GatewayFactory, fake_llm: Script, provider: str
) -> None:
    # All the answer, then the connection held open: past [DONE] (OpenAI) or, for Gemini (whose
    # stream has no end marker), until the read times out.
    fake_llm.push(Reply(text="the complete answer", linger=60.0), times=1)
    with gateway([[target(fake_llm, "m", provider)]], llm={"timeout_s": 1.0}) as gw:
        _, events = _streamed(gw, "m")
        assert events[-2] == b"data: [DONE]" and b'"error"' not in b"".join(events)
        said = {m["text"] for m in gw.wait_for_memories("ana", 2)}
        assert {Q[0]["content"], "the complete answer"} <= said  # the turn is remembered
        label = gw.app.state.gateway.router.targets[0].label
        stats = gw.get("/health")["checks"]["gateway"]["targets"][label]
    assert stats["failures"] == 0 and stats["successes"] == 1


def test_a_lone_surrogate_from_the_client_is_a_400_and_from_the_upstream_is_relayed(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    bad = b'{"model": "m", "user": "ana", "messages": [{"role": "user", "content": "hi \\ud83d there"}]}'
    answer = {"role": "assistant", "content": "Nice \ud83d"}
    completion = {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": answer, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }  # fmt: skip
    fake_llm.reply_raw(json.dumps(completion))  # JSON escapes the surrogate: \ud83d
    fake_llm.reply_raw(_chunk({"role": "assistant", "content": ""}) + _chunk({"content": "Nice \ud83d"})
                       + _chunk({}, 0, "stop") + "data: [DONE]\n\n")  # fmt: skip
    with gateway([[target(fake_llm, "m")]]) as gw, gw.http() as http:
        for stream in (False, True):
            body = bad if not stream else bad.replace(b'"model": "m"', b'"model": "m", "stream": true')
            r = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["param"] == "messages[0].content", r.text
        assert fake_llm.requests == []  # nothing was sent upstream
        ok = {"model": "m", "user": "ana", "messages": Q}
        plain = http.post("/v1/chat/completions", json=ok)
        assert plain.status_code == 200 and plain.json()["choices"][0]["message"]["content"] == "Nice \ud83d"
        with http.stream("POST", "/v1/chat/completions", json={**ok, "stream": True}) as r:
            events = b"".join(r.iter_bytes()).split(b"\n\n")
        assert events[-2] == b"data: [DONE]" and b"\\ud83d" in b"".join(events)  # relayed, escaped


def test_an_upstream_refusal_is_relayed_with_its_own_error_fields(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    azure = {
        "error": {
            "message": "The response was filtered (key sk-up-a)", "type": None, "param": "prompt",
            "code": "content_filter", "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {"hate": {"filtered": True}}},
        }
    }  # fmt: skip
    vllm = {"object": "error", "message": "max_tokens is too large", "type": "BadRequestError", "code": 400}
    fake_llm.reply_body(azure, status=400)
    fake_llm.reply_body(vllm, status=400)
    with gateway([[target(fake_llm, "a")]]) as gw, gw.http() as http:
        first, second = (http.post("/v1/chat/completions", json={"model": "a", "messages": Q}) for _ in range(2))
    assert first.status_code == second.status_code == 400
    relayed = first.json()["error"]
    assert relayed["innererror"] == azure["error"]["innererror"] and relayed["type"] is None
    assert (relayed["param"], relayed["code"], relayed["status"]) == ("prompt", "content_filter", 400)
    assert "sk-up-a" not in relayed["message"] and "filtered" in relayed["message"]  # the key is scrubbed
    assert second.json()["error"] == {
        "message": "max_tokens is too large", "type": "BadRequestError", "param": None, "code": 400
    }  # fmt: skip


def test_usage_an_upstream_puts_on_its_last_chunk_reaches_only_clients_that_asked(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    last = json.loads(_chunk({}, 0, "stop")[len("data: ") :])
    last["usage"] = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}  # as Mistral sends it
    raw = _chunk({"role": "assistant", "content": "hi"}) + f"data: {json.dumps(last)}\n\n" + "data: [DONE]\n\n"
    fake_llm.reply_raw(raw, times=2)
    with gateway([[target(fake_llm, "m")]]) as gw:
        unasked = list(gw.client().chat.completions.create(model="m", messages=Q, stream=True))
        asked = list(
            gw.client().chat.completions.create(
                model="m", messages=Q, stream=True, stream_options={"include_usage": True}
            )
        )
    assert [c.usage for c in unasked] == [None, None]
    assert asked[-1].usage is not None and asked[-1].usage.total_tokens == 7


def test_health_tells_one_story_about_each_upstream_of_a_server_that_owns_its_memory(
    tmp_path: Any, fake_llm: Script
) -> None:
    from memoryd.server import create_app
    from tests.api.conftest import running_app
    from tests.gateway.conftest import gateway_settings

    fake_llm.default(Reply(status=502, text=None))
    settings = gateway_settings(tmp_path / "m.db", [[target(fake_llm, "a")]], llm={"breaker_failures": 1})
    with running_app(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
        fresh = http.get("/health").json()["checks"]
        assert fresh["llm"]["status"] == "untested"  # nothing asked it yet: not "ok"
        chat = http.post("/v1/chat/completions", json={"model": "a", "messages": Q, "user": "ana"})
        assert chat.status_code == 503
        checks = http.get("/health").json()["checks"]
    label = next(iter(checks["gateway"]["targets"]))
    assert checks["llm"]["status"] == "degraded"  # the chat's failures are fine mode's too: one router
    assert checks["llm"]["targets"][label]["state"] == checks["gateway"]["targets"][label]["state"] == "open"
