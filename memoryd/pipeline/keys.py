"""Every Redis stream and key name the pipeline uses, in one place.

All names start with the stream's full name (``pipeline.prefix`` + ``pipeline.stream``,
``chat_log`` by default), so one Redis can hold several deployments side by side::

    chat_log                     the event stream (XADD by producers, XREADGROUP by workers)
    chat_log:dlq                 the dead-letter stream: the event, its error, its attempts
    chat_log:retry               sorted set: events waiting for their retry time (score = due ms)
    chat_log:event:<event_id>    hash: the event's status and result (kept result_ttl_s once it ends)
    chat_log:lock:<event_id>     string: the worker processing the event (expires, refreshed)
    chat_log:stats               hash: counters (enqueued, processed, duplicates, retried, ...)
    chat_log:workers             sorted set: worker name -> last heartbeat (ms)
    chat_log:workers:info        hash: worker name -> its last heartbeat as JSON
    chat_log:workers:claim:<group>\x1f<name>
                                 string: the token of the process holding a worker name (expires
                                 with its heartbeat): a second process under that name is refused
    chat_log:forgotten:<tenant>:<digest>
                                 string: when the user was deleted (ms); older events of theirs are skipped.
                                 Named by the SHA-256 of the user id (no trace of the id itself), and
                                 kept as long as the store keeps its own mark (30 days)
    chat_log:reset:<tenant>      string: when the tenant's store was reset (ms); older events are skipped
    chat_log:marker              string: when the pipeline first set up its keys (ms) and a random id
                                 (and ":lost" when set anew as a loss was recorded); gone, or older
                                 than one seen, means Redis lost its data (memoryd.pipeline.redis_health)
    chat_log:data_lost           hash: when a memoryd process found the marker gone; delete it to
                                 acknowledge (else it expires after pipeline.result_ttl_s)
    chat_log:progress            sorted set: samples of the counters (score = ms), for /health's
                                 "failing with nothing processed" verdict
    chat_log:owner:<owner>       string: the worker adding for one owner (tenant and user, agent or
                                 session) right now; deleted when its add ends, expires with its lease
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from memoryd.config import PipelineConfig

__all__ = ["Keys", "digest"]


def digest(name: str) -> str:
    """The SHA-256 of a user id (or owner), as the store names an erased user: key names never carry
    the id itself (an id may be a person's name or e-mail address)."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Keys:
    """The names of one pipeline's streams and keys."""

    ns: str

    @classmethod
    def of(cls, config: PipelineConfig) -> Keys:
        return cls(config.ns)

    @property
    def stream(self) -> str:
        return self.ns

    @property
    def dlq(self) -> str:
        return f"{self.ns}:dlq"

    @property
    def retry(self) -> str:
        return f"{self.ns}:retry"

    @property
    def stats(self) -> str:
        return f"{self.ns}:stats"

    @property
    def workers(self) -> str:
        return f"{self.ns}:workers"

    @property
    def workers_info(self) -> str:
        return f"{self.ns}:workers:info"

    def worker_claim(self, member: str) -> str:
        """A worker's claim on its name; ``member`` is its heartbeat entry (group and name)."""
        return f"{self.ns}:workers:claim:{member}"

    def status(self, event_id: str) -> str:
        return f"{self.ns}:event:{event_id}"

    def forgotten(self, tenant: str, user_id: str | None) -> str:
        """The deletion mark of a user (``None``: of the whole tenant, by a reset)."""
        if user_id is None:
            return f"{self.ns}:reset:{tenant}"
        return f"{self.ns}:forgotten:{tenant}:{digest(user_id)}"  # tenant names hold no ':'

    def forgotten_by_name(self, tenant: str, user_id: str) -> str:
        """The name an older memoryd gave a user's deletion mark (the id itself): removed when the
        user is deleted again."""
        return f"{self.ns}:forgotten:{tenant}:{user_id}"

    @property
    def status_prefix(self) -> str:
        """What every status record's name starts with (:meth:`status` of ``""``)."""
        return self.status("")

    def lock(self, event_id: str) -> str:
        return f"{self.ns}:lock:{event_id}"

    @property
    def marker(self) -> str:
        return f"{self.ns}:marker"

    @property
    def data_lost(self) -> str:
        return f"{self.ns}:data_lost"

    @property
    def progress(self) -> str:
        return f"{self.ns}:progress"

    def owner(self, owner: str) -> str:
        """The lock of one owner's adds (``owner``: tenant and user, agent or session). Named by the
        owner itself, as every release since the pipeline began: workers of two releases side by
        side (a rolling upgrade) must take the same lock. It lives only while an add holds it."""
        return f"{self.ns}:owner:{owner}"
