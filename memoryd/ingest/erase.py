"""Erasing a scope (``delete_all``): its memories, and the rule memories only its turns stated.

A session's or an agent's turns live in a narrower scope than what the fast-mode rules read in
them (the owner's profile and preferences, :func:`~memoryd.ingest.derived.owner_scope`): those go
with the turns, as they do when one turn is deleted, and a home one of them had ended is current
again (:func:`~memoryd.ingest.timelines.reopen_profile`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from memoryd.errors import MemorydError
from memoryd.ingest.derived import owner_scope, stated_only_among
from memoryd.ingest.timelines import reopen_profile
from memoryd.models import Event, MemoryRecord, Scope
from memoryd.storage import ChangeSet, HistoryDraft, Storage

__all__ = ["begin_erasure", "erase_scope", "on_erasure_begun"]

_begun: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("erasure_begun", default=None)


@contextmanager
def on_erasure_begun(callback: Callable[[], Awaitable[None]]) -> Iterator[None]:
    """Within the block, :meth:`AsyncMemory.delete_user` and :meth:`~AsyncMemory.reset` await
    ``callback`` once the store's mark of the erasure is committed, before anything is erased (an
    error of its stops the erasure): the async pipeline marks the deletion in its queue then."""
    token = _begun.set(callback)
    try:
        yield
    finally:
        _begun.reset(token)


async def begin_erasure(
    storage: Storage, user_id: str | None, now: datetime, queue_mark_ms: int | None
) -> None:
    """Begin erasing ``user_id`` (None: everyone): the store's mark (first: a pipeline event of the
    user already past its worker's checks commits no later), then the callback of
    :func:`on_erasure_begun`."""
    await storage.records.mark_erased(user_id, now, queue_mark_ms)
    if (begun := _begun.get()) is not None:
        await begun()

CHUNK = 1000  # memories per commit


async def erase_scope(
    storage: Storage,
    scope: Scope,
    now: datetime,
    actor: str,
    *,
    commit: Callable[[ChangeSet, list[MemoryRecord]], Awaitable[Any]] | None = None,
) -> int:
    """Delete every memory of ``scope`` (current or superseded) and what only its turns stated;
    how many went. Committed :data:`CHUNK` at a time, what went with the turns in the last one: a
    failure midway says how many went (``details["deleted"]``), and running it again finishes.
    ``commit(changes, deleted)``: how a chunk is committed (the hierarchy's, whose segments lose the
    deleted turns' vectors from their centroids); default: straight to ``storage``."""
    records = storage.records
    ids = await records.select_ids(scope, None, include_expired=True)
    owner = owner_scope(scope)
    derived = [] if owner == scope or not ids else await stated_only_among(records, owner, set(ids))
    every, done = [*ids, *(m.id for m in derived)], 0
    try:
        for done in range(0, len(every), CHUNK):
            chunk = list((await records.get_many(every[done : done + CHUNK])).values())
            drafts = [HistoryDraft.of(m, Event.DELETE, m.text, None, actor, now) for m in chunk]
            changes = ChangeSet(deletes=[m.id for m in chunk], history=drafts)
            if derived and done + CHUNK >= len(every):
                await reopen_profile(records, derived, changes, now, actor)
            await (storage.commit(changes) if commit is None else commit(changes, chunk))
    except MemorydError as exc:
        if done:  # the chunks before it stay deleted
            exc.message += f" ({done} of the {len(every)} memories were deleted: rerun to finish)"
            exc.args, exc.details["deleted"] = (exc.message,), done
        raise
    return len(every)
