"""The memory hierarchy at run time: tier changes with each write, deferred heat, promotion.

:class:`Tiers` is what :class:`memoryd.AsyncMemory` calls:

- :meth:`Tiers.write` commits a write together with the tier changes of its new
  episodes (planned by :func:`memoryd.hierarchy.planner.plan_write` under a per-owner
  lock, so two writes of one owner never plan from the same state), then hands
  promoted segments whose turns still need it to long-term processing: at once when
  that is the fast-mode rules; in the background when it calls the LLM (fine mode),
  so that no write waits for an LLM it did not ask for (a fast-mode add, or one whose
  LLM is down: the turns it just failed to process are left for a later write). A
  background promotion holds no lock while the LLM works; what it stores is committed
  under the owner's write lock, and the segment is read afresh before it is marked;
  :meth:`drain` waits for it, :meth:`close` stops it (a promotion cut short is taken up
  again by a later write).
- :meth:`Tiers.revise` commits an edit or a delete of a turn together with what it changes in
  the hierarchy, under the same lock, so no write moves a turn with its old words or vector
  meanwhile: an edited turn's new keywords (its segment is then recounted), and the new index
  vectors of the turns re-indexed with it (the edited turn, and the turn after it or after a
  deleted one: :mod:`memoryd.ingest.relink`). A short-term turn takes its new vector; a
  segment's centroid trades the old vectors for the new ones (and loses a deleted turn's).
- :meth:`Tiers.note` records what a search or context returned. It only counts ids in
  memory: no I/O on the read path. The counts reach the segments' heat with the next
  write (in its transaction), on :meth:`flush`, or in the background once
  ``heat_flush_every`` ids are waiting or the oldest count waited ``heat_flush_after_s`` (a
  server whose workers do all the writing still writes its heat). The wait is a timer on the
  event loop, armed when a count becomes pending: it fires with no further search or write, so
  a kill loses at most that much. :meth:`close` stops it and writes what is pending; a reset
  (:meth:`forget_pending`) or a user's deletion (:meth:`purge`) drops the erased counts first.
- :meth:`Tiers.tree` reads an owner's hierarchy for the memory tree.

The clock is injected (``clock()`` returns an aware datetime), so tests move time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np

from memoryd.config import TiersConfig
from memoryd.graph.models import GraphDiff
from memoryd.hierarchy.keywords import words
from memoryd.hierarchy.models import LEVEL_LLM, LEVEL_NONE, NewTurn, Segment, SessionInfo, TierChanges
from memoryd.hierarchy.planner import Plan, overflow, plan_write, promotions
from memoryd.hierarchy.tree import build_tree
from memoryd.hierarchy.tree_owner import nobody, owner_memories
from memoryd.ingest.derived import owner_scope
from memoryd.ingest.locks import OwnerLocks
from memoryd.models import MemoryKind, MemoryRecord, Scope, new_id, utcnow
from memoryd.storage import ChangeSet, SegmentStore, Storage, StoredMemory

__all__ = ["Clock", "Process", "Tiers"]

Clock = Callable[[], datetime]
# Long-term processing of episodes (a promoted segment's turns of one session not yet processed):
# returns the processing level reached (LEVEL_RULES, LEVEL_LLM; lower: it failed and is retried later).
Process = Callable[[list[MemoryRecord]], Awaitable[int]]


_log = logging.getLogger("memoryd.hierarchy")


_HEATED_OWNERS = 10_000  # owners remembered as heated by searches until their next write


class Tiers:
    """Short-term turns, mid-term segments and heat of one store (see the module doc)."""

    def __init__(
        self,
        storage: Storage,
        config: TiersConfig,
        *,
        process: Process,
        capability: int,
        clock: Clock = utcnow,
    ) -> None:
        self.storage = storage
        self.config = config
        self.clock = clock
        self.capability = capability
        self._process = process
        self._promoting: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()  # ids of the segments a background promotion is working on
        self._locks = OwnerLocks()
        self._pending: dict[str, tuple[int, float]] = {}  # memory id -> (retrievals, latest time)
        self._pending_since: float | None = None  # when the oldest pending count was taken
        self._pending_loop_at = 0.0  # the same on the event loop's clock (what the timer waits on)
        self._owners: dict[str, Scope] = {}  # memory id -> owner, of the pending counts
        self._in_flight: list[dict[str, Scope]] = []  # the owners of counts taken, not yet written
        self._timer: asyncio.TimerHandle | None = None  # flushes once the oldest count waited
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        # owners whose segments retrievals heated since their last write: it looks for hot ones
        self._heated: set[Scope] = set()
        self._flushing: asyncio.Task[None] | None = None

    @property
    def store(self) -> SegmentStore | None:
        """The segment store, or None when tiers are off (``tiers.enabled``, or no backend)."""
        return self.storage.segments if self.config.enabled else None

    def _now(self) -> float:
        return self.clock().timestamp()

    # -- writing -------------------------------------------------------------
    def keywords(self, episodes: Sequence[MemoryRecord]) -> list[tuple[str, ...]] | None:
        """The keywords :meth:`write` needs of ``episodes`` (None when tiers are off): pure, so a
        caller can work them out while it waits for the vectors."""
        return [words(m.text) for m in episodes] if self.store is not None else None

    async def write(
        self,
        changes: ChangeSet,
        episodes: Sequence[MemoryRecord],
        vectors: np.ndarray,
        level: int,
        *,
        words: Sequence[tuple[str, ...]] | None = None,
        llm_failed: bool = False,
    ) -> GraphDiff:
        """Commit ``changes`` with the tier changes of its new ``episodes`` (one scope; their index
        vectors in order; ``level``: how far the write processed them; ``words``: their
        :meth:`keywords` if already known; ``llm_failed``: the write asked the LLM to process
        them, in vain), then promote."""
        store = self.store
        if store is None or not episodes:
            return await self.storage.commit(changes)
        owner = owner_scope(episodes[0].scope)
        async with self._locks.of(owner):
            plan = await self._plan(store, owner, episodes, vectors, level, words)
            taken, owners = self._take_pending()  # deferred heat rides along with this write
            heated = owner in self._heated  # the plan's heat lacks what searches added since
            self._heated.discard(owner)
            plan.changes.retrieved = taken
            changes.tiers = plan.changes
            try:
                diff = await self._commit_heat(changes, taken, owners)
            except BaseException:
                if heated:
                    self._heated.add(owner)
                raise
            if heated:  # a segment hot from retrievals alone, the write moving no turn included
                plan.promote += await self._heated_hot(store, owner, {s.id for s in plan.promote})
            # Turns this very write asked the LLM for in vain are not handed straight back to it (it
            # is down, or their prompt too big): a later write's promotion takes them.
            skip = frozenset(m.id for m in episodes) if llm_failed else frozenset()
            if plan.promote and self.capability < LEVEL_LLM:  # the rules: quick, no LLM
                for segment in plan.promote:
                    await self._promote(store, segment, skip)
            elif plan.promote:
                self._in_background(store, owner, [s.id for s in plan.promote], skip)
        return diff

    async def _heated_hot(self, store: SegmentStore, owner: Scope, planned: set[str]) -> list[Segment]:
        """The owner's segments hot with the retrievals written so far that the write's plan did not
        promote: marked promoted when their turns need nothing more, else returned to process."""
        stored = [s for s in await store.segments(owner) if s.id not in planned]
        marked, process = promotions(stored, self.config, self.capability, self._now())
        if marked:
            await self.storage.commit(ChangeSet(tiers=TierChanges(segments=marked)))
        return process

    def _in_background(self, store: SegmentStore, owner: Scope, ids: list[str], skip: frozenset[str]) -> None:
        """Promote the segments ``ids`` of ``owner`` after this write. No lock is held while the
        LLM works (the owner's next write must not wait for it): what it stores is committed under
        the owner's write lock (``process``'s business), and a segment is marked promoted under the
        tiers' lock, as it then is."""

        ids = [i for i in ids if i not in self._busy]  # one promotion of a segment at a time
        if not ids:
            return
        self._busy.update(ids)

        async def promote() -> None:
            try:
                current = {s.id: s for s in await store.segments(owner)}  # as they are now
                for segment_id in ids:
                    segment = current.get(segment_id)
                    if segment is not None and segment.level < self.capability:  # not done meanwhile
                        await self._promote(store, segment, skip, relock=owner)
            except Exception as exc:  # noqa: BLE001 - left unpromoted: a later write tries again
                _log.warning("background promotion for %s failed, retried on a later write: %s", owner, exc)
            finally:
                self._busy.difference_update(ids)

        task = asyncio.get_running_loop().create_task(promote())
        self._promoting.add(task)
        task.add_done_callback(self._promoting.discard)

    async def revise(
        self,
        changes: ChangeSet,
        edited: MemoryRecord | None = None,
        *,
        reindexed: Sequence[StoredMemory] = (),
        deleted: Sequence[MemoryRecord] = (),
    ) -> GraphDiff:
        """Commit ``changes``, an edit or a delete, with what it changes in the hierarchy (see the
        module doc). ``edited``: a memory whose text changed (an episode's turn takes the new
        text's keywords, so the old words leave its segment); ``reindexed``: the new index entries
        of the turns whose vector changes (:func:`memoryd.ingest.relink.relinked`); ``deleted``:
        the memories ``changes`` deletes. Their turns' old vectors are read from the vector index
        before the commit: the segment store keeps no vector of a turn in a segment, and one whose
        vectors live in another engine can only move its centroid from the old to the new."""
        store = self.store
        entries = [e for e in reindexed if e.vector is not None and e.memory.kind is MemoryKind.EPISODE]
        edited = edited if edited is not None and edited.kind is MemoryKind.EPISODE else None
        gone = [m for m in deleted if m.kind is MemoryKind.EPISODE]
        turns = [e.memory for e in entries] + gone + ([edited] if edited is not None else [])
        if store is None or not turns:
            return await self.storage.commit(changes)
        new = {e.memory.id: np.asarray(e.vector, dtype=np.float32) for e in entries}
        async with self._locks.of(owner_scope(turns[0].scope)):  # not between a write's plan and commit
            placed = await store.turns(memory_ids=[*new, *(m.id for m in gone)])
            in_segments = [r.memory_id for r in placed if r.segment_id is not None]
            old = await self.storage.vectors.vectors(in_segments) if in_segments else {}
            moves: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {
                r.memory_id: (old.get(r.memory_id), new.get(r.memory_id)) for r in placed
            }
            revised = {edited.id: words(edited.text)} if edited is not None else {}
            changes.tiers = TierChanges(revised=revised, reindexed=moves)
            return await self.storage.commit(changes)

    async def _plan(
        self,
        store: SegmentStore,
        owner: Scope,
        episodes: Sequence[MemoryRecord],
        vectors: np.ndarray,
        level: int,
        keywords: Sequence[tuple[str, ...]] | None = None,
    ) -> Plan:
        run_id, incoming = episodes[0].run_id, len(episodes)

        def held(sessions: list[SessionInfo]) -> int:
            return next((s.turns for s in sessions if s.run_id == run_id), 0)

        def choose(sessions: list[SessionInfo]) -> dict[str | None, int]:
            moves = overflow(run_id, incoming, sessions, self.config)
            if run_id in moves:
                moves[run_id] = min(moves[run_id], held(sessions))
            return moves

        short = await store.short_term(owner, choose)
        over = overflow(run_id, incoming, short.sessions, self.config).get(run_id, 0)
        direct = max(0, over - held(short.sessions))  # incoming turns beyond what short-term holds
        moving = short.turns
        segments = await store.segments(owner) if moving or direct else []
        new = [
            NewTurn(
                m.id,
                m.run_id,
                (m.event_time or self.clock()).timestamp(),
                level,
                np.asarray(vectors[i], dtype=np.float32),
                keywords[i] if keywords is not None else words(m.text),
            )
            for i, m in enumerate(episodes)
        ]
        return plan_write(
            owner=owner, new=new, direct=direct, moving=moving, last_segment=short.last_segment,
            segments=segments, config=self.config, capability=self.capability, now=self._now(),
            new_id=new_id,
        )  # fmt: skip

    async def _promote(
        self,
        store: SegmentStore,
        segment: Segment,
        skip: frozenset[str] = frozenset(),
        relock: Scope | None = None,
    ) -> None:
        """Hand a hot segment's unprocessed turns to long-term processing, a session at a time, then
        mark it promoted. The turns of a session that failed are tried again on a later write; the
        sessions that succeeded keep their level, so they are not processed twice. Turns in
        ``skip`` are left for a later write (the segment then stays unpromoted). ``relock``: the
        owner, when the caller holds no lock (a background promotion): the segment is read again
        under the tiers' lock before it is marked, so no write made meanwhile is undone."""
        rows = [r for r in await store.turns(segment_id=segment.id) if r.level < self.capability]
        left = [r for r in rows if r.memory_id in skip]
        rows = [r for r in rows if r.memory_id not in skip]
        found = await self.storage.records.get_many([r.memory_id for r in rows])
        sessions: dict[str | None, list[MemoryRecord]] = {}
        for m in sorted((found[r.memory_id] for r in rows if r.memory_id in found), key=_said):
            sessions.setdefault(m.run_id, []).append(m)
        done = True
        for episodes in sessions.values():
            try:
                reached = await self._process(episodes)
            except Exception as exc:  # noqa: BLE001 - the write succeeded; promotion is retried later
                _log.warning("promotion of segment %s failed, retried on a later write: %s", segment.id, exc)
                reached = LEVEL_NONE
            if reached < self.capability:
                done = False  # e.g. the LLM was down: left hot and unprocessed, tried again later
                continue
            levels = {m.id: reached for m in episodes}
            await self.storage.commit(ChangeSet(tiers=TierChanges(levels=levels)))
        if not done or left:
            return
        gone = {r.memory_id: self.capability for r in rows if r.memory_id not in found}  # nothing to do
        if relock is None:
            await self._mark(segment, gone)
            return
        async with self._locks.of(relock):
            fresh = next((s for s in await store.segments(relock) if s.id == segment.id), None)
            if fresh is None:
                return
            # A turn that joined the segment while the LLM worked was not sent: marked promoted,
            # the segment would never send it. Left unmarked, a later write promotes it again.
            joined = [r for r in await store.turns(segment_id=segment.id) if r.level < self.capability]
            if all(r.memory_id in gone for r in joined):
                await self._mark(fresh, gone)

    async def _mark(self, segment: Segment, gone: dict[str, int]) -> None:
        """Mark ``segment`` (as it now is) promoted, and ``gone``'s turns at their level."""
        now, promotions = self._now(), segment.promotions + 1
        marked = replace(segment, promoted_at=now, promotions=promotions, level=self.capability)
        await self.storage.commit(ChangeSet(tiers=TierChanges(segments=[marked], levels=gone)))

    # -- heat on retrieval ---------------------------------------------------
    def note(self, memories: Iterable[MemoryRecord]) -> None:
        """Count memories a search or context returned (a derived one heats the turns it came from).

        In memory only; see the module doc for when the counts are written."""
        if self.store is None:
            return
        at = self._now()
        pending, owners = self._pending, self._owners
        if len(self._heated) > _HEATED_OWNERS:  # searches of owners this process never writes for
            self._heated.clear()  # (pipeline workers write them): their plans still see the heat
        for m in memories:
            owner = owner_scope(m.scope)
            self._heated.add(owner)
            for mid in (m.id, *m.source_ids):
                count, _ = pending.get(mid, (0, at))
                pending[mid] = (count + 1, at)
                owners[mid] = owner
        if not pending:
            return
        if self._pending_since is None:
            self._pending_since = at
            self._pending_loop_at = asyncio.get_running_loop().time()
        waited = at - self._pending_since >= self.config.heat_flush_after_s
        if len(pending) >= self.config.heat_flush_every or waited:
            self._flush_soon()
        else:
            self._arm()

    def _arm(self) -> None:
        """Make sure the pending counts are flushed once the oldest waited ``heat_flush_after_s``,
        whether or not anything else happens meanwhile."""
        loop = asyncio.get_running_loop()
        if not self._pending or (self._timer is not None and self._timer_loop is loop):
            return
        if not self.storage.opened:  # closed: the counts wait for it to open again (a note or write)
            self._disarm()
            return
        self._disarm()  # one armed on a loop that is gone would never fire
        delay = max(0.0, self._pending_loop_at + self.config.heat_flush_after_s - loop.time())
        self._timer, self._timer_loop = loop.call_later(delay, self._on_timer), loop

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_loop = None

    def _on_timer(self) -> None:
        self._timer = self._timer_loop = None
        self._flush_soon()

    def _flush_soon(self) -> None:
        """Flush in the background (at most one such flush at a time: a running one re-arms the
        timer for what was counted meanwhile)."""
        loop = asyncio.get_running_loop()
        running = self._flushing
        if not self.storage.opened:  # a flush would fail, and its timer try again forever
            return
        if running is not None and running.get_loop() is loop and not running.done():
            return
        self._flushing = loop.create_task(self._background_flush())

    async def _background_flush(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - the counts were put back; retried after the wait
            _log.warning("deferred heat flush failed, kept for the next write or flush: %s", exc)
        finally:
            if self._flushing is asyncio.current_task():
                self._flushing = None
            self._arm()  # counts taken meanwhile, or put back by the failure

    @property
    def busy(self) -> bool:
        """Whether a background promotion is running."""
        return bool(self._promoting)

    async def drain(self) -> None:
        """Wait for a background heat flush and background promotions, if any are running."""
        while self._promoting:
            await asyncio.gather(*self._promoting, return_exceptions=True)
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)

    async def flush(self) -> None:
        """Write the retrieval counts gathered so far to the segments' heat."""
        if self.store is None or not self._pending:
            return
        taken, owners = self._take_pending()
        await self._commit_heat(ChangeSet(tiers=TierChanges(retrieved=taken)), taken, owners)

    async def _commit_heat(
        self, changes: ChangeSet, taken: dict[str, tuple[int, float]], owners: dict[str, Scope]
    ) -> GraphDiff:
        """Commit ``changes``, which write the ``taken`` retrieval counts, putting them back only if
        they were not written: by whether the commit happened, not by whether it raised (cancelled
        while the writer runs it, it commits all the same, and counts put back would count twice)."""
        written = threading.Event()  # set on the writer's thread once committed
        try:
            async with self.storage.records.transaction():
                self.storage.records.after_commit(written.set)
                return await self.storage.commit(changes)
        except BaseException:
            if not written.is_set():
                self._restore(taken, owners)
            raise
        finally:
            self._settled(owners)

    def _take_pending(self) -> tuple[dict[str, tuple[int, float]], dict[str, Scope]]:
        """The pending counts and their owners, for a commit (:meth:`_settled` when it is done)."""
        taken, owners = self._pending, self._owners
        self._pending, self._owners, self._pending_since = {}, {}, None
        self._disarm()
        self._in_flight.append(owners)  # a reset or a purge meanwhile empties it
        return taken, owners

    def _settled(self, owners: dict[str, Scope]) -> None:
        self._in_flight = [o for o in self._in_flight if o is not owners]

    def _restore(self, taken: dict[str, tuple[int, float]], owners: dict[str, Scope]) -> None:
        """Put back counts a failed commit did not write, but those of an owner erased meanwhile
        (a reset or a purge took them out of ``owners``); they wait ``heat_flush_after_s`` again."""
        for mid, (count, at) in taken.items():
            if mid not in owners:  # its owner was purged meanwhile
                continue
            old, last = self._pending.get(mid, (0, at))
            self._pending[mid] = (old + count, max(at, last))
            self._owners[mid] = owners[mid]
        if self._pending and self._pending_since is None:
            self._pending_since = self._now()
            self._pending_loop_at = asyncio.get_running_loop().time()
        self._arm()

    # -- reading and forgetting ----------------------------------------------
    async def tree(
        self, owner: Scope, *, episodes: int, long_term: int | None = None, segments: int | None = None
    ) -> dict[str, Any]:
        """The owner's memory tree (see :func:`memoryd.hierarchy.tree.build_tree`), bounded to
        ``long_term`` memories per long-term group and the ``segments`` hottest segments when either
        is given (the other then takes its default); NotFoundError naming the field when the owner
        has nothing stored (:mod:`memoryd.hierarchy.tree_owner`)."""
        store = self.store
        if store is not None:
            await self.flush()
        pages = await store.segments(owner, evicted=True) if store is not None else []
        turns = await store.turns(owner=owner) if store is not None else []
        memories = await owner_memories(self.storage.records, owner)
        if not (memories or turns or pages):
            raise await nobody(self.storage.records, store, owner)
        return build_tree(
            owner=owner, segments=pages, turns=turns, memories=memories, now=self._now(),
            config=self.config, episodes=episodes, enabled=store is not None, long_term=long_term,
            shown=segments,
        )  # fmt: skip

    async def counts(self) -> dict[tuple[str | None, str | None], dict[str, int]]:
        """Tier sizes per (user_id, agent_id)."""
        store = self.store
        if store is None:
            return {}
        await self.flush()
        return {(c.user_id, c.agent_id): c.to_dict() for c in await store.counts()}

    async def purge(self, scope: Scope) -> None:
        """Forget every turn and segment of ``scope`` (the memories are deleted by the caller), and
        the retrieval counts of its owner not written yet: none is written back for it later."""
        owned = [(k, v) for k, v in scope.items() if k != "run_id"]
        if owned:
            for owners in (self._owners, *self._in_flight):
                for mid in [m for m, o in owners.items() if all(getattr(o, k) == v for k, v in owned)]:
                    del owners[mid]
                    self._pending.pop(mid, None)
            self._heated = {o for o in self._heated if not all(getattr(o, k) == v for k, v in owned)}
            if not self._pending:
                self._pending_since = None
                self._disarm()
        if self.storage.segments is not None:
            await self.storage.segments.purge(scope)

    def forget_pending(self) -> None:
        """Drop the retrieval counts not written yet (the store was reset), those a flush is
        writing included should it fail: none is put back."""
        self._pending.clear()
        self._owners.clear()
        for owners in self._in_flight:
            owners.clear()
        self._pending_since = None
        self._disarm()
        self._heated.clear()

    async def stop_promotions(self) -> None:
        """Stop background promotions (a later write takes them up again): before a reset or a
        user's deletion, so that none writes what was just erased."""
        for task in list(self._promoting):
            task.cancel()
        while self._promoting:
            await asyncio.gather(*self._promoting, return_exceptions=True)

    async def close(self) -> None:
        """Stop background promotions and the flush timer, and write the heat still pending (best
        effort) before the store closes: no task or timer of the tiers is left behind."""
        await self.stop_promotions()
        self._disarm()
        await self.drain()
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - closing must not fail on derived state
            _log.warning("heat not written at close: %s", exc)
        finally:
            self._disarm()  # a failed flush put its counts back and armed it again


def _said(m: MemoryRecord) -> tuple[datetime, datetime]:
    """When a turn was said, for ordering (its event time, else when it was added)."""
    return (m.event_time or m.created_at, m.created_at)
