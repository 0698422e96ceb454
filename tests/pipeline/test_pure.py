"""The pipeline's pure parts: event schema and versions, batching, retry policy, metrics, config."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from memoryd import AddResult, AddResults, Event, load_settings
from memoryd.errors import (
    BackendUnavailableError,
    ConfigError,
    EmbedderMismatchError,
    InvalidInputError,
    NotSupportedError,
    StorageError,
)
from memoryd.pipeline import SCHEMA_VERSION, AddPayload, PipelineEvent
from memoryd.pipeline.base import Delivery, QueueStats
from memoryd.pipeline.batching import Job, message_items, plan_calls, split_results
from memoryd.pipeline.events import check_event_id
from memoryd.pipeline.keys import Keys
from memoryd.pipeline.metrics import MetricsText, pipeline_metrics
from memoryd.pipeline.policy import backoff_ms, error_info, is_transient


# -- events --------------------------------------------------------------------
def test_an_event_round_trips_through_stream_fields() -> None:
    event = PipelineEvent(
        "ev-1",
        AddPayload([{"role": "user", "content": "hi"}], user_id="ana", metadata={"k": 1}, timestamp=1.5),
        source="api:v1",
    )
    fields = event.to_fields()
    assert all(isinstance(v, str) for v in fields.values())
    assert fields["v"] == str(SCHEMA_VERSION) and fields["attempt"] == "1"
    back = PipelineEvent.from_fields(fields)
    assert back.payload == event.payload and back.event_id == "ev-1" and back.created_at == event.created_at
    retried = back.retried({"code": "x"}, 2)
    assert retried.attempt == 2 and PipelineEvent.from_fields(retried.to_fields()).last_error == {"code": "x"}
    replayed = retried.replayed("1-0")
    assert (replayed.attempt, replayed.last_error, replayed.replayed_from) == (1, None, "1-0")


def test_a_worker_reads_the_next_version_and_keeps_its_new_fields() -> None:
    fields = PipelineEvent("ev-2", AddPayload("hello", user_id="ana")).to_fields()
    newer = {**fields, "v": str(SCHEMA_VERSION + 1), "priority": "high"}
    newer["payload"] = json.dumps({"messages": "hello", "user_id": "ana", "tone": "warm"})
    event = PipelineEvent.from_fields(newer)
    assert event.payload.messages == "hello" and event.extra == {"priority": "high"}
    assert event.retried({}, 2).to_fields()["priority"] == "high"  # carried along on retry
    for again in (event.retried({}, 2), event.replayed("1-0")):  # the payload's new fields too
        assert json.loads(again.to_fields()["payload"])["tone"] == "warm"
        assert PipelineEvent.from_fields(again.to_fields()).payload == event.payload


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"v": str(SCHEMA_VERSION + 2)}, "event.v"),
        ({"v": "0"}, "event.v"),
        ({"v": "x"}, "event.v"),
        ({"payload": "{not json"}, "event.payload"),
        ({"payload": "[1]"}, "event.payload"),
        ({"payload": json.dumps({"messages": "x", "surprise": 1})}, "event.payload.surprise"),
        ({"payload": json.dumps({"user_id": "a"})}, "event.payload.messages"),
        ({"event_id": "has space"}, "event.event_id"),
        ({"attempt": "zero"}, "event.attempt"),
        ({"type": "delete"}, "event.type"),
        ({"payload": json.dumps({"messages": "x", "tenant": ["acme"]})}, "event.payload.tenant"),
        ({"payload": json.dumps({"messages": "x", "tenant": "a/b"})}, "event.payload.tenant"),
        ({"payload": json.dumps({"messages": "x", "tenant": ""})}, "event.payload.tenant"),
    ],
)
def test_unreadable_events_name_what_is_wrong(change: dict[str, str], field: str) -> None:
    fields = {**PipelineEvent("ev-3", AddPayload("hello", user_id="ana")).to_fields(), **change}
    with pytest.raises(InvalidInputError) as caught:
        PipelineEvent.from_fields(fields)
    assert caught.value.field == field


def test_event_ids() -> None:
    assert check_event_id("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert check_event_id("chat:ana@2024-05-01_42")
    for bad in ("", " x", "a b", "x" * 129, "-leading", 5, None):
        with pytest.raises(InvalidInputError):
            check_event_id(bad)


def test_every_key_starts_with_the_stream_name() -> None:
    keys = Keys("tenant:chat_log")
    names = [keys.stream, keys.dlq, keys.retry, keys.stats, keys.workers, keys.workers_info]
    names += [keys.status("e"), keys.lock("e")]
    assert keys.dlq == "tenant:chat_log:dlq" and len(set(names)) == len(names)
    assert all(n.startswith("tenant:chat_log") for n in names)


def test_an_owners_lock_is_named_as_by_earlier_releases() -> None:
    # workers of two releases side by side (a rolling upgrade) must exclude each other per owner
    assert Keys("chat_log").owner("acme/u-ana") == "chat_log:owner:acme/u-ana"


# -- batching --------------------------------------------------------------------
def _job(n: int, payload: AddPayload) -> Job:
    return Job(Delivery(f"{n}-0", {}), PipelineEvent(f"e{n}", payload), 1)


def test_consecutive_events_of_a_scope_become_one_call_in_stream_order() -> None:
    jobs = [
        _job(0, AddPayload(["a", "b"], user_id="ana")),
        _job(1, AddPayload("c", user_id="bo")),
        _job(2, AddPayload({"content": "d"}, user_id="ana")),
        _job(3, AddPayload("e", user_id="ana", metadata={"topic": "x"})),  # other metadata: a new call
        _job(4, AddPayload("f", user_id="ana", metadata={"topic": "x"})),
        _job(5, AddPayload("g", user_id="ana", mode="fine")),  # fine: always alone
        _job(6, AddPayload("h", user_id="ana", mode="fine")),
    ]
    plans = plan_calls(jobs, default_mode="fast", max_messages=100)
    ana, bo = plans
    assert [[j.event.event_id for j in c.jobs] for c in ana] == [["e0", "e2"], ["e3", "e4"], ["e5"], ["e6"]]
    assert [[j.event.event_id for j in c.jobs] for c in bo] == [["e1"]]
    first = ana[0]
    assert (
        first.messages == ["a", "b", {"content": "d"}] and first.offsets == [0, 2] and first.counts == [2, 1]
    )
    assert first.kwargs() == {
        "user_id": "ana",
        "agent_id": None,
        "run_id": None,
        "metadata": None,
        "mode": "fast",
    }
    assert [c.mode for c in ana] == ["fast", "fast", "fine", "fine"]


def test_calls_respect_the_message_limit_and_never_split_an_event() -> None:
    jobs = [_job(i, AddPayload(["x"] * 3, user_id="ana")) for i in range(5)]
    calls = plan_calls(jobs, default_mode="fast", max_messages=7)[0]
    assert [len(c.jobs) for c in calls] == [2, 2, 1]


def test_the_call_timestamp_moves_onto_messages_that_have_none() -> None:
    payload = AddPayload(
        [
            "plain",
            {"content": "own", "timestamp": "2020-01-01T00:00:00Z"},
            {"content": "c", "created_at": 5},
            {"content": "n"},
        ],
        user_id="ana",
        timestamp="2024-05-01T10:00:00Z",
    )
    items = message_items(payload)
    assert items[0] == {"content": "plain", "timestamp": "2024-05-01T10:00:00Z"}
    assert items[1]["timestamp"] == "2020-01-01T00:00:00Z" and "timestamp" not in items[2]
    assert items[3] == {"content": "n", "timestamp": "2024-05-01T10:00:00Z"}
    assert message_items(AddPayload("only", user_id="ana")) == ["only"]


def test_each_event_gets_its_slice_of_the_results_renumbered() -> None:
    jobs = [_job(0, AddPayload(["a", "b"], user_id="ana")), _job(1, AddPayload("c", user_id="ana"))]
    (call,) = plan_calls(jobs, default_mode="fast", max_messages=10)[0]
    results = AddResults(
        [
            AddResult(Event.ADD, 0, "m0", "a"),
            AddResult(Event.ADD, 1, "m1", "b"),
            AddResult(Event.NOOP, 2, "m0", "c", reason="duplicate of memory m0 in the same scope"),
        ]
    )
    first, second = split_results(call, results)
    assert [(r["id"], r["index"]) for r in first["results"]] == [("m0", 0), ("m1", 1)]
    assert second["results"] == [
        {"id": "m0", "memory": "c", "event": "NOOP", "index": 0, "kind": "episode",
         "reason": "duplicate of memory m0 in the same scope"}
    ]  # fmt: skip


# -- retry policy ------------------------------------------------------------------
def test_backoff_doubles_up_to_the_cap_with_a_little_jitter() -> None:
    rng = random.Random(7)
    delays = [backoff_ms(a, 100, 1000, rng) for a in (1, 2, 3, 4, 5, 6)]
    for delay, expected in zip(delays, (100, 200, 400, 800, 1000, 1000)):
        assert expected * 0.9 <= delay <= min(1000, expected * 1.1)


def test_what_is_worth_a_retry() -> None:
    for transient in (BackendUnavailableError("down"), StorageError("locked"), RuntimeError("bug")):
        assert is_transient(transient)
    for permanent in (
        InvalidInputError("bad", field="messages"),
        NotSupportedError("fine"),
        EmbedderMismatchError("m"),
    ):
        assert not is_transient(permanent)
    info = error_info(
        InvalidInputError("messages[0].content is empty", field="messages[0].content"), attempt=1
    )
    assert info == {"code": "invalid_input", "message": "messages[0].content is empty", "type": "InvalidInputError",
                    "field": "messages[0].content", "transient": False, "attempt": 1}  # fmt: skip


# -- metrics -------------------------------------------------------------------------
def test_metrics_text_is_prometheus_exposition_format() -> None:
    out = MetricsText()
    out.add("memoryd_info", "gauge", "Version.", 1, {"version": 'a"b\\c'})
    stats = QueueStats(10, None, 3, 2, 1, 2, {"processed": 7, "enqueued": 12}, [{"rate": 1.5}, {"rate": 2.0}])
    pipeline_metrics(out, enabled=True, redis_up=True, stats=stats, submissions={"queued": 4, "bypassed": 1})
    text = out.render()
    assert 'memoryd_info{version="a\\"b\\\\c"} 1' in text
    assert "memoryd_pipeline_lag NaN" in text and "memoryd_pipeline_pending 3" in text
    assert "memoryd_pipeline_processing_rate 3.5" in text and "memoryd_pipeline_workers 2" in text
    assert 'memoryd_pipeline_events_total{outcome="processed"} 7' in text
    assert 'memoryd_pipeline_submissions_total{path="bypassed"} 1' in text
    assert text.count("# TYPE memoryd_pipeline_events_total counter") == 1
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


# -- configuration ----------------------------------------------------------------------
def test_the_async_pipeline_switch_and_its_aliases(tmp_path: Path) -> None:
    assert not load_settings(env={}).pipeline.enabled
    assert load_settings(env={"MEMORYD_ASYNC_PIPELINE": "true"}).pipeline.enabled
    assert load_settings(env={"MEMORYD_PIPELINE_ENABLED": "1"}).pipeline.enabled
    both = {"MEMORYD_ASYNC_PIPELINE": "true", "MEMORYD_PIPELINE__ENABLED": "false"}
    assert not load_settings(env=both).pipeline.enabled  # the section's own spelling wins
    f = tmp_path / "m.toml"
    f.write_text('async_pipeline = true\n[pipeline]\nstream = "events"\n')
    s = load_settings(f, env={})
    assert s.pipeline.enabled and s.pipeline.ns == "events"
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"MEMORYD_PIPELINE_ON_UNAVAILABLE": "drop"})
    assert caught.value.field == "pipeline.on_unavailable"
    shown = json.dumps(load_settings(env={"MEMORYD_PIPELINE_REDIS_URL": "redis://:pw@h:1/0"}).redacted())
    assert "pw@" not in shown  # the URL may hold a password: config show masks it


# -- the benchmark's report --------------------------------------------------------------
def test_the_pipeline_benchmark_reports_each_target() -> None:
    from rich.console import Console

    from memoryd.bench.pipeline import (
        PipelineBenchConfig,
        PipelineBenchResult,
        report_table,
        run_pipeline_bench,
    )
    from memoryd.bench.results import Latency, Throughput

    result = PipelineBenchResult(machine={"cores": 2, "load_average": [0.1, 0.1, 0.1]}, config={"workers": 2})
    assert result.targets() == {"enqueue_per_s": None, "e2e_ratio": None, "searchable_p95_ms": None}
    result.enqueue_one_by_one = Throughput.of(3000, 1.0)
    result.enqueue_pipelined = Throughput.of(12000, 1.0)
    result.e2e_ratio = 0.8
    result.to_searchable = Latency.of([0.1, 0.2, 0.3])
    assert result.targets() == {"enqueue_per_s": True, "e2e_ratio": False, "searchable_p95_ms": True}
    console = Console(width=140, record=True)
    console.print(report_table(result))
    text = console.export_text()
    assert "12,000 events/s" in text and "0.80" in text and "p95 290 ms" in text
    assert "samples_ms" not in json.dumps(result.to_dict()["to_searchable"])
    with pytest.raises(ValueError):
        run_pipeline_bench(PipelineBenchConfig(workers=0))


def test_rule_memories_of_merged_events_go_to_the_event_of_their_source_message() -> None:
    jobs = [
        _job(0, AddPayload("I love tea", user_id="ana")),
        _job(1, AddPayload(["x", "I love jazz"], user_id="ana")),
    ]
    (call,) = plan_calls(jobs, default_mode="fast", max_messages=10)[0]
    results = AddResults(
        [
            AddResult(Event.ADD, 0, "m0", "I love tea"),
            AddResult(Event.ADD, 1, "m1", "x"),
            AddResult(Event.ADD, 2, "m2", "I love jazz"),
            AddResult(Event.ADD, 0, "p0", "The user loves tea.", kind="preference", sources=("m0",)),
            AddResult(Event.ADD, 1, "p1", "The user loves jazz.", kind="preference", sources=("m2",)),
        ]
    )
    first, second = split_results(call, results)
    assert [(r["id"], r["index"], r.get("sources")) for r in first["results"]] == [
        ("m0", 0, None), ("p0", 0, ["m0"]),
    ]  # fmt: skip
    assert [(r["id"], r["index"], r.get("sources")) for r in second["results"]] == [
        ("m1", 0, None), ("m2", 1, None), ("p1", 0, ["m2"]),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "url", ["redis://:Sup3rS3cret@localhost:Sup3rS3cret", "redis://u:pa/Sup3rS3cret@localhost:6379/0", "http://x:Sup3rS3cret@h"]
)
def test_a_redis_url_that_cannot_be_read_is_refused_without_showing_its_password(url: str) -> None:
    from memoryd.errors import ConfigError
    from memoryd.pipeline.redis_queue import RedisQueue

    settings = load_settings(env={"MEMORYD_PIPELINE__ENABLED": "true", "MEMORYD_PIPELINE__REDIS_URL": url})
    with pytest.raises(ConfigError) as caught:
        RedisQueue(settings.pipeline)
    assert caught.value.field == "pipeline.redis_url"
    assert "Sup3r" not in str(caught.value) and "Sup3r" not in caught.value.message
    assert "percent-encode" in caught.value.message
