"""The async memory pipeline: ``add`` calls as events on a Redis stream, stored by workers.

With ``pipeline.enabled`` (``async_pipeline``, env ``MEMORYD_ASYNC_PIPELINE``) the
server validates each add, writes it as an event to the ``chat_log`` stream and
answers ``202`` with its ``event_id``; ``memoryd worker`` processes (consumer
group, batched embeddings, retries with backoff, reclaiming what dead workers
left, a dead-letter stream) and records each event's result, which
``GET /v1/events/{event_id}`` returns.

- :mod:`.events`: the event schema and its versioning; :mod:`.keys`: every Redis name.
- :mod:`.base`: the queue's Protocols; :mod:`.redis_queue`: the Redis Streams backend
  (the only module importing ``redis``), with its Lua scripts in :mod:`.scripts`.
- :mod:`.producer`: :class:`Pipeline`, what the server and gateway call.
- :mod:`.worker`: :class:`Worker`, its loop and life cycle; :mod:`.processing`: what it does with
  each batch; :mod:`.batching`, :mod:`.outcomes` and :mod:`.policy`: the pure parts of that.
- :mod:`.metrics`: Prometheus text; :mod:`.local_redis`: a throw-away ``redis-server``
  for tests and benchmarks.

Nothing here imports the ``redis`` client until a queue is built, so memoryd runs
without the ``[redis]`` extra while the pipeline is off.
"""

from memoryd.pipeline.base import EventQueue, EventRecord, QueueStats
from memoryd.pipeline.events import SCHEMA_VERSION, AddPayload, EventStatus, PipelineEvent
from memoryd.pipeline.keys import Keys
from memoryd.pipeline.producer import Pipeline, Submission, build_queue
from memoryd.pipeline.worker import Worker, WorkerReport

__all__ = [
    "SCHEMA_VERSION",
    "AddPayload",
    "EventQueue",
    "EventRecord",
    "EventStatus",
    "Keys",
    "Pipeline",
    "PipelineEvent",
    "QueueStats",
    "Submission",
    "Worker",
    "WorkerReport",
    "build_queue",
]
