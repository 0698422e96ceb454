"""Prometheus text exposition (format 0.0.4) for ``GET /metrics``: pure, no client library.

Queue figures (length, lag, pending, DLQ size, rate) and the event counters come
from Redis, so every server reports the whole deployment; ``submissions`` counts
what this server process did with the add requests it received.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from memoryd.pipeline.base import QueueStats

__all__ = ["CONTENT_TYPE", "MetricsText", "pipeline_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if isinstance(value, float) and not value.is_integer() else str(int(value))


class MetricsText:
    """Collects metric families and renders them, each with its HELP and TYPE once."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._declared: set[str] = set()

    def add(
        self, name: str, kind: str, help_text: str, value: float, labels: Mapping[str, str] | None = None
    ) -> None:
        if name not in self._declared:
            self._declared.add(name)
            self._lines.append(f"# HELP {name} {help_text}")
            self._lines.append(f"# TYPE {name} {kind}")
        label_text = ""
        if labels:
            label_text = "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"
        self._lines.append(f"{name}{label_text} {_number(value)}")

    def render(self) -> str:
        return "\n".join(self._lines) + "\n"


def pipeline_metrics(
    out: MetricsText,
    *,
    enabled: bool,
    redis_up: bool,
    stats: QueueStats | None,
    submissions: Mapping[str, int],
    writes_queued: bool | None = None,
    redis_full: bool | None = None,
    data_lost: bool | None = None,
) -> None:
    """Add the pipeline's families to ``out`` (those given ``None``: not known, left out)."""
    what = "Whether add requests go through the async pipeline."
    out.add("memoryd_pipeline_enabled", "gauge", what, enabled)
    if not enabled:
        return
    out.add("memoryd_pipeline_redis_up", "gauge", "Whether the pipeline's Redis answers.", redis_up)
    flags = [
        ("memoryd_pipeline_writes_queued", "Whether adds are queued now (0: Redis is down or refuses writes, "
         "and adds are processed synchronously or refused, as pipeline.on_unavailable says).", writes_queued),
        ("memoryd_pipeline_redis_full", "Whether Redis is at maxmemory and refuses new events (OOM).",
         redis_full),
        ("memoryd_pipeline_data_lost", "Whether a loss of Redis's data is recorded and not acknowledged.",
         data_lost),
    ]  # fmt: skip
    for name, help_text, flag in flags:
        if flag is not None:
            out.add(name, "gauge", help_text, flag)
    for path, n in sorted(submissions.items()):
        out.add(
            "memoryd_pipeline_submissions_total",
            "counter",
            "Add requests this server handled, by path: queued, duplicate, bypassed (synchronous), rejected.",
            n,
            {"path": path},
        )
    if stats is None:
        return
    lag = stats.lag
    gauges = [
        ("memoryd_pipeline_stream_length", "Entries in the event stream.", stats.stream_length),
        ("memoryd_pipeline_lag", "Events not yet delivered to any worker.", math.nan if lag is None else lag),
        ("memoryd_pipeline_pending", "Events delivered to a worker and not yet finished.", stats.pending),
        ("memoryd_pipeline_dlq_size", "Events in the dead-letter stream.", stats.dlq_size),
        ("memoryd_pipeline_retry_scheduled", "Events waiting for their retry time.", stats.retry_scheduled),
        ("memoryd_pipeline_workers", "Workers with a recent heartbeat.", len(stats.workers)),
        ("memoryd_pipeline_group_consumers", "Consumers in the group, dead ones not yet removed included.",
         stats.consumers),
        ("memoryd_pipeline_dead_consumers", "Consumers in the group with no live worker (no heartbeat).",
         stats.dead_consumers),
        ("memoryd_pipeline_processing_rate", "Events processed per second over the last minute.", stats.rate),
    ]
    for name, help_text, value in gauges:
        out.add(name, "gauge", help_text, value)
    for outcome, n in sorted(stats.counters.items()):
        out.add(
            "memoryd_pipeline_events_total",
            "counter",
            "Events by outcome, over every producer and worker of this stream.",
            n,
            {"outcome": outcome},
        )
