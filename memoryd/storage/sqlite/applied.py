"""What a SQLite store remembers of the pipeline's events (part of :mod:`.records`): the events a
write applied (``applied_events``: the same event twice is refused, another add under its id is a
conflict) and the users erased (``erased_users``, and ``erased_on_queue`` on the queue's clock;
:data:`EVERYONE` for a reset), so that an event made before its user's erasure stores nothing; and
the scopes whose memories a ``delete_all`` deleted (``erased_users`` too, keyed by
:func:`scope_key`), so that an add queued before it is not stored after it. Run inside the write's
transaction.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import sqlite3
import time

from memoryd.errors import ConflictError, EventAppliedError, EventErasedError
from memoryd.storage.events import AppliedEvent

__all__ = [
    "APPLIED_KEEP_S", "EVERYONE", "SCOPE_MARGIN_S", "mark_erased", "prune_now_and_then", "record_events",
    "scope_key", "user_key",
]  # fmt: skip

# How long an applied event id is kept: far longer than any event waits in a queue or for a retry.
APPLIED_KEEP_S = 30 * 86_400


def record_events(conn: sqlite3.Connection, events: list[AppliedEvent]) -> None:
    """Record the pipeline events a write applies, in its transaction. The same event (id and
    digest) recorded already fails the write whole (:class:`EventAppliedError`); another add
    recorded under the id is replaced, or refused (:class:`ConflictError`) when the event says
    so; one made before its user was erased is refused (:class:`EventErasedError`, see
    :func:`_erased`). Ids older than :data:`APPLIED_KEEP_S` go."""
    now = time.time()
    for e in events:
        if _erased(conn, e):
            raise EventErasedError(
                f"event {e.event_id!r} was made before its user (or a scope holding it) was deleted: "
                "nothing of it was stored",
                field="event_id",
            )
        row = conn.execute("SELECT digest FROM applied_events WHERE event_id = ?", (e.event_id,)).fetchone()
        if row is not None and row[0] == e.digest:
            raise EventAppliedError(
                f"event {e.event_id!r} was applied to this store already: nothing of this write was stored",
                field="event_id",
            )
        if row is not None and not e.replaces:
            raise ConflictError(
                f"event_id {e.event_id!r} already names another add (its body or user differs): nothing "
                "was stored; give this add an id of its own",
                field="event_id",
            )
        conn.execute(
            "INSERT INTO applied_events (event_id, digest, applied_at) VALUES (?, ?, ?) "
            "ON CONFLICT(event_id) DO UPDATE SET digest = excluded.digest, applied_at = excluded.applied_at",
            (e.event_id, e.digest, now),
        )
    prune_now_and_then(conn, now)


def mark_erased(conn: sqlite3.Connection, key: str, when: float) -> None:
    """Record that ``key`` (a :func:`user_key`, :func:`scope_key` or :data:`EVERYONE`) was erased at
    ``when`` (this host's clock), keeping the later of two marks."""
    conn.execute(
        "INSERT INTO erased_users (user_key, erased_at) VALUES (?, ?) "
        "ON CONFLICT(user_key) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at)",
        (key, when),
    )


def prune_now_and_then(conn: sqlite3.Connection, now: float) -> None:
    """Now and then, drop the applied events and erasure marks older than :data:`APPLIED_KEEP_S`:
    small tables, pruned without a timer by the writes that add to them."""
    if random.random() < 0.01:
        conn.execute("DELETE FROM applied_events WHERE applied_at < ?", (now - APPLIED_KEEP_S,))
        conn.execute("DELETE FROM erased_users WHERE erased_at < ?", (now - APPLIED_KEEP_S,))
        conn.execute("DELETE FROM erased_on_queue WHERE erased_at < ?", (now - APPLIED_KEEP_S,))


def _erased(conn: sqlite3.Connection, e: AppliedEvent) -> bool:
    """Whether the store was reset, ``e``'s user erased (see :func:`_erased_as`), or a scope holding
    ``e``'s deleted (:func:`_scope_deleted`), after ``e`` was made."""
    if _erased_as(conn, e, EVERYONE):
        return True
    if e.user_id is not None and _erased_as(conn, e, user_key(e.user_id)):
        return True
    return _scope_deleted(conn, e)


# How much later than an event a delete_all of its scope must be to refuse it. Both times are hosts'
# clocks (the event's, as its worker reads the queue's clock through a round trip; the deletion's,
# where it ran): an add queued just after the deletion is never refused (nothing acknowledged is
# lost), one queued within this of it before may still be stored.
SCOPE_MARGIN_S = 1.0


def _scope_deleted(conn: sqlite3.Connection, e: AppliedEvent) -> bool:
    """Whether a ``delete_all`` of a scope holding ``e``'s came after ``e`` was made (by more than
    :data:`SCOPE_MARGIN_S`): one naming some of its ids (its user; its user and session; its
    session…), none other."""
    parts = [(i, v) for i, v in enumerate((e.user_id, e.agent_id, e.run_id)) if v is not None]
    if not parts or e.created_at is None:
        return False
    keys = []
    for n in range(1, len(parts) + 1):
        for chosen in itertools.combinations(parts, n):
            ids: list[str | None] = [None, None, None]
            for i, v in chosen:
                ids[i] = v
            keys.append(scope_key(*ids))
    sql = f"SELECT max(erased_at) FROM erased_users WHERE user_key IN ({', '.join('?' * len(keys))})"
    row = conn.execute(sql, keys).fetchone()
    return row[0] is not None and row[0] - e.created_at > SCOPE_MARGIN_S


def _erased_as(conn: sqlite3.Connection, e: AppliedEvent, who: str) -> bool:
    """Whether ``who`` (a :func:`user_key`; :data:`EVERYONE`: a reset) was erased after ``e`` was
    made. A deletion the event queue marked (``erased_on_queue``) is compared with when the queue
    took the event, both on the queue's clock, as workers skip events: the host's time of that
    deletion (``erased_users``) came later (after the queue's erasure), and an event enqueued in
    between is a new one. A deletion made since without the queue (its host time past the marked
    one's) is compared on this host's clock."""
    key = (who,)
    host = conn.execute("SELECT erased_at FROM erased_users WHERE user_key = ?", key).fetchone()
    queue = None
    if e.enqueued_ms is not None:
        sql = "SELECT mark_ms, erased_at FROM erased_on_queue WHERE user_key = ?"
        queue = conn.execute(sql, key).fetchone()
    if queue is not None:
        if e.enqueued_ms is not None and e.enqueued_ms <= queue[0]:
            return True
        if host is None or host[0] <= queue[1]:  # no deletion since the marked one
            return False
    return host is not None and e.created_at is not None and host[0] >= e.created_at


# How a reset is named among erased users: every user (and events of none) erased at once. Never a
# digest (those are 64 hex digits), and kept by the reset that records it.
EVERYONE = "*"


def user_key(user_id: str) -> str:
    """How an erased user is named in the store: a digest, so that nothing of theirs is left."""
    return hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()


def scope_key(user_id: str | None, agent_id: str | None, run_id: str | None) -> str:
    """How a scope a ``delete_all`` deleted is named among erased users: a digest of its three ids
    (an absent one unlike any id), never a user's (:func:`user_key`)."""
    ids = "\x00".join("\x01" if v is None else "\x02" + v for v in (user_id, agent_id, run_id))
    return hashlib.sha256(f"scope\x00{ids}".encode("utf-8", "surrogatepass")).hexdigest()
