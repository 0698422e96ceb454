"""The memory API, async core: add, search, get, list, update, delete, history.

:class:`AsyncMemory` wires the configured storage, embedder and retrieval
together. It is the one implementation; :class:`memoryd.Memory` is a thin
synchronous wrapper with the same names and arguments, and the REST server and
CLI call this class too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from memoryd.config import Settings, load_settings
from memoryd.context.builder import RECENT, Context, build_context_off_loop, gather, profile_rank
from memoryd.context.current import OneCurrent
from memoryd.embedders import Embedder
from memoryd.embedders.base import close_embedder, embedder_identity, limit_blas, make_embedder
from memoryd.embedders.runner import EmbeddingRunner
from memoryd.errors import (
    BackendUnavailableError,
    InvalidInputError,
    NotFoundError,
    StaleWriteError,
    StorageError,
)
from memoryd.filters import EPISODES, And, Cond, Filter, parse_filter
from memoryd.graph.models import GraphDiff
from memoryd.hierarchy.feedback import ABOUT_ASSISTANT
from memoryd.hierarchy.models import LEVEL_LLM, LEVEL_NONE, LEVEL_RULES
from memoryd.hierarchy.owners import list_owners
from memoryd.hierarchy.promote import process_turns
from memoryd.hierarchy.tiers import Clock, Tiers
from memoryd.hierarchy.tree import LONG_TERM_SHOWN, SEGMENTS_SHOWN
from memoryd.hierarchy.tree_owner import tree_owner
from memoryd.ingest import MAX_OFFSET, MAX_TOKEN_BUDGET, AddInput, normalise_add, plan_fast_add
from memoryd.ingest.derived import agent_view, owner_scope, stated_only_by, went_with_edit
from memoryd.ingest.erase import begin_erasure, erase_scope
from memoryd.ingest.fast import FastPlan
from memoryd.ingest.fine import FineIngestor
from memoryd.ingest.inputs import check_bool, check_int, check_query, check_texts, update_inputs
from memoryd.ingest.locks import OwnerLocks
from memoryd.ingest.places import known_places
from memoryd.ingest.relink import relinked
from memoryd.ingest.represent import EpisodeIndex, PendingIndex, Represent
from memoryd.ingest.rule_writer import RuleWriter
from memoryd.ingest.speakers import user_speakers
from memoryd.ingest.stale import stale
from memoryd.ingest.timelines import reopen_profile
from memoryd.llm import Router, build_router
from memoryd.maintenance.health import store_health
from memoryd.maintenance.terms import ensure_index_format
from memoryd.models import (
    AddResult,
    AddResults,
    Event,
    HistoryEntry,
    LLMUsage,
    MemoryKind,
    MemoryRecord,
    Page,
    Scope,
    SearchHit,
    UpdateResult,
    content_hash,
    parse_time,
    require_utf8,
    utcnow,
)
from memoryd.registry import resolve
from memoryd.retrieval.hybrid import HybridSearcher, SearchRequest
from memoryd.retrieval.related import SearchResults, related_relations
from memoryd.storage import ChangeSet, HistoryDraft, Storage, StoredMemory, build_storage
from memoryd.storage.events import AppliedRecord, pending_events

__all__ = ["AsyncMemory"]

_DELETE_ALL = "api:delete_all"  # the actor of what delete_all removes
def _scope(user_id: str | None, agent_id: str | None, run_id: str | None) -> Scope:
    return Scope(user_id, agent_id, run_id)


class AsyncMemory:
    """Long-term memory for LLM apps. Use ``async with AsyncMemory() as mem:``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        storage: Storage | None = None,
        router: Router | None = None,
        close_router: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self._close_router = close_router  # False when the router is shared (tenant stores)
        self._embedder, self._made_embedder = embedder, False  # one it made, it closes
        self.storage = storage or build_storage(self.settings)
        # The LLM (fine mode), or None: fast mode only. Built from [llm] unless given.
        self.router = router if router is not None else build_router(self.settings)
        self.represent = Represent(self.settings.index)
        # Ingest on a thread of its own, queries on the spot or on another: see EmbeddingRunner.
        self._embed = EmbeddingRunner(lambda: self.embedder)
        self._rules = RuleWriter(self.storage, self._embed, self.represent)  # fast mode's rule memories
        self._fine = (
            FineIngestor(self.storage, self._embed, self.router, self.settings.fine, self.represent)
            if self.router
            else None
        )
        # The memory hierarchy (short-term turns, mid-term segments and heat); ``clock`` moves its time.
        self._writing = OwnerLocks()  # an add's, from its duplicate lookup to its commit
        self.tiers = Tiers(
            self.storage,
            self.settings.tiers,
            process=self._long_term,
            capability=LEVEL_LLM if self._fine is not None else LEVEL_RULES,
            **({"clock": clock} if clock is not None else {}),
        )
        self._searcher: HybridSearcher | None = None
        self._opened = False
        self._indexless = False  # opened but for the indexes (open_without_indexes)
        self._shut = False  # closed by close(): only open() opens it again, no call does by itself
        self._open_lock = asyncio.Lock()

    # -- life cycle --------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use (reads never need it)."""
        if self._embedder is None:
            cfg = self.settings.embedder
            self._embedder = make_embedder(resolve("embedder", cfg.provider), cfg)
            self._made_embedder = True
        return self._embedder

    @property
    def loaded_embedder(self) -> Embedder | None:
        """The embedder if it has been loaded (or was given), else ``None``."""
        return self._embedder

    @property
    def busy(self) -> bool:
        """Whether a write (an add, an edit, a delete) or a background promotion is under way:
        closing the store now would cut it off (:class:`memoryd.tenancy.Tenants` waits)."""
        return self._writing.busy or self.tiers.busy

    async def _embedder_identity(self) -> tuple[str, int]:
        """The embedder's name and size, without loading the model. A remote model asked for its
        size (``embedder.dim`` unset) that is down: the size the store recorded (reads work)."""
        if self._embedder is not None:
            return str(self._embedder.name), int(self._embedder.dim)
        cfg = self.settings.embedder
        try:
            return embedder_identity(resolve("embedder", cfg.provider), cfg)
        except BackendUnavailableError:
            if (recorded := await self.storage.vectors.recorded()) is None:
                raise
            cfg = cfg.model_copy(update={"dim": recorded[1]})
            return embedder_identity(resolve("embedder", cfg.provider), cfg)

    async def open(self) -> AsyncMemory:
        async with self._open_lock:
            self._shut = False
            if self._opened:
                return self
            limit_blas(self.settings.runtime.blas_threads)
            try:
                opening = self.storage.open_indexes if self._indexless else self.storage.open
                await opening(*await self._embedder_identity())
                await ensure_index_format(self.storage, self.represent)
            except BaseException:
                self._indexless = False
                await self.storage.close()  # never leave a half-open store behind
                raise
            search, clock = self.settings.search, self.tiers.clock  # "yesterday" is the clock's
            self._searcher = HybridSearcher(self.storage, self._embed.query, search, clock)
            self._opened, self._indexless = True, False
        return self

    async def open_without_indexes(self) -> AsyncMemory:
        """Open all but the keyword and vector indexes (an export without vectors reads no index:
        it works while one is missing, half rebuilt or another model's). A method that needs
        them opens them first, and fails as :meth:`open` does then."""
        async with self._open_lock:
            self._shut = False
            if self._opened or self._indexless:
                return self
            try:
                await self.storage.open_without_indexes()
            except BaseException:
                await self.storage.close()
                raise
            self._indexless = True
        return self

    async def warm(self) -> None:
        """Load the embedding model now rather than on the first add or search, and, when fast
        mode's rules run, the place names a move is read against (on a thread: their ~0.2 s of
        parsing that holds the interpreter would otherwise stall a server on the first move)."""
        await self._ready()
        places = asyncio.to_thread(known_places) if self.settings.context.fast_rules else _nothing()
        await asyncio.gather(self._embed(["warm up"]), places)

    async def close(self) -> None:
        self._shut = True
        if self._opened or self._indexless:
            try:
                await self.tiers.close()
            finally:  # the engines' clients are closed whatever the tiers did
                await self.storage.close()
                self._opened = self._indexless = False
        if self.router is not None and self._close_router:
            await self.router.aclose()
        self._embed.close()
        if self._made_embedder:
            close_embedder(self._embedder)

    async def __aenter__(self) -> AsyncMemory:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _ready(self) -> None:
        if not self._opened:
            if self._shut:  # a call holding a store its owner closed (an idle tenant's) reopens nothing
                raise StorageError("this memory store was closed: open it again (AsyncMemory.open)")
            await self.open()

    # -- writing -----------------------------------------------------------
    async def add(
        self,
        messages: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        timestamp: Any = None,
        mode: str | None = None,
    ) -> AddResults:
        """Store messages (a string, a message dict, or a list of them).

        Every message is kept as an episode memory: one :class:`AddResult` per
        input item, in order, ``ADD`` with the new id or ``NOOP`` with the reason
        (an exact duplicate in the scope). In fine mode (the default when an LLM
        is configured) the results then list each extracted fact or preference
        and what reconciliation did with it (ADD, UPDATE, SUPERSEDE, NOOP,
        DELETE); ``.llm`` reports the calls and tokens (and, if the LLM failed,
        that only episodes were stored and why); ``.relations`` the graph changes.
        """
        data = normalise_add(
            messages,
            scope=_scope(user_id, agent_id, run_id),
            metadata=metadata,
            timestamp=timestamp,
            mode=mode,
            default_mode="fine" if self._fine is not None else "fast",
            limits=self.settings.limits,
        )
        await self._ready()
        # The model starts on every message now (duplicates too, unless embedded a moment ago: the
        # price of not waiting for the lookup). An add of the same owner waits for this one (lock),
        # so its duplicate lookup sees what this one commits.
        pending = await self._start_index(data)
        try:
            async with self._writing.of(data.scope):
                existing = await self.storage.records.find_duplicates(
                    data.scope, [content_hash(m.content) for m in data.messages]
                )
                users = await user_speakers(self.storage.records, data, existing)
                now = utcnow()
                plan = plan_fast_add(data, existing, now, users)
                if data.mode == "fine" and self._fine is not None:
                    return await self._fine_add(data, plan, now, pending)
                return await self._fast_add(plan, now, pending)
        except BaseException:
            pending.cancel()  # no-op once the vectors are in
            raise

    async def _fast_add(self, plan: FastPlan, now: datetime, pending: PendingIndex) -> AddResults:
        results = list(plan.results)
        rules = self.settings.context.fast_rules
        again = plan.again if rules else []  # turns said again: what they state may hold again
        if not plan.new:
            pending.cancel()
            changes = ChangeSet()
            said = await self._rules.memories([], now, changes, again) if again else []
            if said or pending_events() is not None:  # an async-pipeline event: recorded, if nothing new
                results += said
                await self.storage.commit(changes)
        else:
            # While the model runs (on its thread): rule drafts and the hierarchy's keywords.
            drafts = await self._rules.draft(plan.new, now, again) if rules else []
            rule_work = await self._rules.start(drafts) if rules else None
            words = self.tiers.keywords(plan.new)
            try:
                index = await pending.result(plan.positions(), plan.new)
            except BaseException:
                if rule_work is not None and rule_work.vectors is not None:
                    _drop(rule_work.vectors)  # the add fails: nobody will await the rules' vectors
                raise
            changes = ChangeSet(
                upserts=[StoredMemory(m, index.vectors[i], index.terms[i]) for i, m in enumerate(plan.new)],
                history=[
                    HistoryDraft.of(m, Event.ADD, None, m.text, "api:add/fast", now, kind=m.kind.value)
                    for m in plan.new
                ],
            )
            if rule_work is not None:
                results += await self._rules.finish(rule_work, now, changes)
            level = LEVEL_RULES if rules else LEVEL_NONE
            await self.tiers.write(changes, plan.new, index.vectors, level, words=words)
        return AddResults(results, mode="fast")

    async def _fine_add(
        self, data: AddInput, plan: FastPlan, now: datetime, pending: PendingIndex
    ) -> AddResults:
        """Fine mode; the new episodes enter the hierarchy in the same commit as what it stores."""
        assert self._fine is not None
        kept: list[EpisodeIndex] = []
        ruled: list[AddResult] = []

        async def index() -> EpisodeIndex:
            kept.append(await pending.result(plan.positions(), plan.new))
            return kept[0]

        async def commit(changes: ChangeSet, usage: LLMUsage) -> GraphDiff:
            rules = usage.fallback is not None and self.settings.context.fast_rules  # as in fast mode:
            if rules:  # the turns said again too, whose facts may hold again (also if none is new)
                ruled.extend(await self._rules.memories(plan.new, now, changes, plan.again))
            if not plan.new or not kept:
                return await self.storage.commit(changes)
            level = LEVEL_RULES if rules else LEVEL_LLM if usage.complete else LEVEL_NONE  # how far they got
            failed = not usage.complete
            return await self.tiers.write(changes, plan.new, kept[0].vectors, level, llm_failed=failed)

        out = await self._fine.add(data, plan, index(), now, "api:add/fine", commit=commit)
        out.extend(ruled)  # the fallback's rule memories, after the episodes
        return out

    async def _long_term(self, episodes: list[MemoryRecord]) -> int:
        """One session of a promoted segment (:mod:`memoryd.hierarchy.promote`); with an LLM, in
        the background: what it stores commits under the owner's write lock."""

        async def commit(changes: ChangeSet, _: LLMUsage) -> GraphDiff:
            async with self._writing.of(episodes[0].scope):  # read without it: refused if stale
                if (why := await stale(self.storage.records, episodes, changes, now)) is not None:
                    raise StaleWriteError(why)  # retried on a later write, from fresh reads
                return await self.storage.commit(changes)

        rules, fine, now = self._rules.memories, self._fine, utcnow()
        out = process_turns(episodes, storage=self.storage, rules=rules, fine=fine, now=now, commit=commit)
        return await out

    async def previous_turn(self, scope: Scope) -> str | None:
        """The last turn stored in a session, the context of the next one (None: no session)."""
        if not self.represent.uses_context or scope.run_id is None:
            return None
        last = await self.storage.records.latest(scope, EPISODES, limit=1)
        return self.represent.line(last[0]) if last else None

    async def _start_index(self, data: AddInput) -> PendingIndex:
        """Ask for the vectors of the call's messages now (:meth:`Represent.start`)."""
        before = await self.previous_turn(data.scope)
        session = data.scope.run_id is not None
        embed = self._embed.soon  # hands the model its work at once
        return self.represent.start(data.messages, before, embed, session=session)

    async def update(
        self,
        memory_id: str,
        text: str | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        merge_metadata: bool = False,
    ) -> UpdateResult:
        """Change a memory's text and/or metadata (``merge_metadata``: set the keys given and keep
        the others, as mem0's PUT); the old text stays in its history. Returns the memory as it now
        is, ``UPDATE`` or ``NOOP``, and what the edit changed among the memories the rules read in
        a turn (:class:`UpdateResult`)."""
        text, new_meta = update_inputs(text, metadata, self.settings.limits)
        check_bool("merge_metadata", merge_metadata)  # "no" merged
        scope = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
        first = await self.get(memory_id, **scope)
        async with self._writing.of(first.scope):  # no add, edit or delete of its owner meanwhile
            old = await self.get(memory_id, **scope)  # merged as it is now: no other update lost
            merged = {**old.metadata, **new_meta} if merge_metadata and new_meta is not None else new_meta
            return await self._update(old, text, merged)

    async def _update(self, old: MemoryRecord, text: str | None, new_meta: Meta) -> UpdateResult:
        now = utcnow()
        same_text = text is None or text == old.text
        same_meta = new_meta is None or new_meta == old.metadata
        if same_text and same_meta:
            noop = HistoryDraft.of(old, Event.NOOP, old.text, old.text, "api:update", now, reason="no change")
            await self.storage.commit(ChangeSet(history=[noop]))
            return UpdateResult(old, Event.NOOP)
        new = old.with_changes(
            text=old.text if same_text else text,
            metadata=old.metadata if new_meta is None else new_meta,
            hash=old.hash if same_text else content_hash(text or ""),
            updated_at=now,
        )
        update = HistoryDraft.of(
            old, Event.UPDATE, old.text, new.text, "api:update", now, metadata_changed=not same_meta
        )
        if same_text:
            entries = [StoredMemory(new, None, None, existing=True)]
        else:  # indexed with its session's turn before it, and the turn after it with it (ingest/relink.py)
            entries = await relinked(self.represent, self._embed, self.storage.records, old, new)
        # what its old text asserted in the graph ends (no LLM reads the new text here)
        ends = [] if same_text else [old.id]
        changes = ChangeSet(upserts=entries, history=[update], graph_close_memories=ends)
        derived: list[AddResult] = []
        if not same_text and old.kind is MemoryKind.EPISODE:  # the rules read the new text, not the old
            gone = await stated_only_by(self.storage.records, old)
            changes.deletes += [m.id for m in gone]  # not superseded below: going (or kept, if read again)
            read = await self._rules.memories([new], now, changes) if self.settings.context.fast_rules else []
            kept = {r.id for r in read if r.event is Event.NOOP}  # the new text states it too
            changes.deletes = [i for i in changes.deletes if i not in kept]
            lost = [m for m in gone if m.id not in kept]
            gone_at = [HistoryDraft.of(m, Event.DELETE, m.text, None, "api:update", now) for m in lost]
            changes.history += gone_at
            derived = [*read, *(went_with_edit(m, len(read) + i, old.id) for i, m in enumerate(lost))]
            await reopen_profile(self.storage.records, lost, changes, now, "api:update")
        # a changed text's words, and its and the next turn's new vectors, reach the hierarchy
        await self.tiers.revise(changes, None if same_text else new, reindexed=entries)
        return UpdateResult(new, Event.UPDATE, tuple(derived))

    async def delete(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[MemoryRecord]:
        """Remove one memory from every store; its history keeps the DELETE event. Returns what
        was deleted: the memory first, then the rule memories (profile, preferences) that it
        alone stated, which go with it (each with a DELETE in its history too)."""
        scope = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
        first = await self.get(memory_id, **scope)
        async with self._writing.of(first.scope):  # no add, edit or delete of its owner meanwhile
            old = await self.get(memory_id, **scope)
            # The turn after it in its session is indexed again without its words (ingest/relink.py),
            # and what the rules read in it alone goes with it.
            successor = await relinked(self.represent, self._embed, self.storage.records, old, None)
            gone = [old, *await stated_only_by(self.storage.records, old)]
            history = [HistoryDraft.of(m, Event.DELETE, m.text, None, "api:delete", utcnow()) for m in gone]
            changes = ChangeSet(upserts=successor, deletes=[m.id for m in gone], history=history)
            # a home that one of them (it, or what went with it) had ended is current again
            await reopen_profile(self.storage.records, gone, changes, utcnow(), "api:delete")
            await self.tiers.revise(changes, reindexed=successor, deleted=gone)  # the next turn's vector
        return gone

    async def delete_all(
        self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> int:
        """Remove every memory of a scope (current or superseded), and the profile and preferences
        only its turns stated; returns how many. See :func:`memoryd.ingest.erase.erase_scope`.
        With the async pipeline on, the store first marks the scope deleted: an add of it still
        queued (made before this call) stores nothing when a worker takes it."""
        scope = _scope(user_id, agent_id, run_id).require()
        await self._ready()
        now = utcnow()
        if self.settings.pipeline.enabled:  # no queue, no queued add: no mark to keep
            await self.storage.records.mark_deleted_scope(scope, now)
        async with self._writing.of(scope):  # no add of the owner between its lookups and commit
            revise = lambda changes, gone: self.tiers.revise(changes, deleted=gone)  # noqa: E731
            return await erase_scope(self.storage, scope, now, _DELETE_ALL, commit=revise)

    async def reset(self, *, queue_mark_ms: int | None = None) -> None:
        """Erase every memory and all history in this store.

        As :meth:`delete_user` for every user (begun by the store's mark): the store refuses
        async-pipeline events made before the reset from then on, one a worker is storing as it
        runs included, those the queue took compared with ``queue_mark_ms`` (the reset's time on
        the pipeline's queue, :meth:`Pipeline.forget_user` with no user)."""
        await self._ready()
        await self.tiers.stop_promotions()
        await begin_erasure(self.storage, None, utcnow(), queue_mark_ms)
        await self.storage.reset()
        self.tiers.forget_pending()
        await self.storage.keywords.compact()  # as when forgetting a user: no words left behind
        await self.storage.records.erase_traces()

    # -- reading -----------------------------------------------------------
    async def get(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> MemoryRecord:
        """One memory by id; with a scope, only if it belongs to that scope."""
        if not isinstance(memory_id, str) or not memory_id.strip():
            raise InvalidInputError("memory_id must be a non-empty string", field="memory_id")
        require_utf8(memory_id, "memory_id")
        scope = _scope(user_id, agent_id, run_id)
        await self._ready()
        found = (await self.storage.records.get_many([memory_id])).get(memory_id)
        if found is None or not scope.contains(found):
            raise NotFoundError(f"no memory with id {memory_id!r}", field="memory_id")
        return found

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        as_of: Any = None,
        include_expired: bool = False,
    ) -> Page:
        """A page of a scope's memories, newest first, optionally filtered (100 a page by default)."""
        scope = _scope(user_id, agent_id, run_id).require()
        limits = self.settings.limits
        limit = min(100, limits.max_limit) if limit is None else limit
        check_int("limit", limit, 1, limits.max_limit)
        check_int("offset", offset, 0, MAX_OFFSET)
        check_bool("include_expired", include_expired)  # "false" is truthy: it listed the superseded
        where = parse_filter(filters, max_depth=limits.max_filter_depth)
        await self._ready()
        return await self.storage.records.page(
            scope,
            where,
            limit=limit,
            offset=offset,
            as_of=parse_time(as_of, field_name="as_of"),
            include_expired=include_expired,
        )

    async def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        threshold: float | None = None,
        as_of: Any = None,
        explain: bool = False,
        graph_hops: int = 0,
        reference_time: Any = None,
    ) -> SearchResults:
        """Hybrid (dense + BM25) search within a scope, best first.

        With ``graph_hops`` 1 or 2, ``.relations`` lists the graph relations around the entities the query
        and its top hits name. A date the query names favours memories said then: a day in the offset of
        ``reference_time`` (UTC without), the "now" of "a week ago" (default: ``as_of``, else the clock)."""
        limits = self.settings.limits
        check_query(query, limits.max_query_chars)
        scope = _scope(user_id, agent_id, run_id).require()
        limit = self.settings.search.default_limit if limit is None else limit
        check_int("limit", limit, 1, limits.max_limit)
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not -1.0 <= threshold <= 1.0
        ):
            raise InvalidInputError("threshold must be a number between -1 and 1", field="threshold")
        check_int("graph_hops", graph_hops, 0, 2)
        check_bool("explain", explain)  # "yes" explained, where the server refuses it
        where = parse_filter(filters, max_depth=limits.max_filter_depth)
        when = parse_time(as_of, field_name="as_of")
        await self._ready()
        assert self._searcher is not None
        now = parse_time(reference_time, field_name="reference_time")
        request = SearchRequest(query, scope, where, limit, threshold, when, explain, now)
        hits = await self._searcher.search(request)
        self.tiers.note(h.memory for h in hits)  # heat, counted in memory, written later
        if not graph_hops:
            return SearchResults(hits)
        relations = await related_relations(
            self.storage.graph, scope, query, hits, hops=graph_hops, as_of=when
        )
        return SearchResults(hits, relations)

    async def context(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        token_budget: int | None = None,
        exclude: Sequence[str] = (),
        reference_time: Any = None,
    ) -> Context:
        """A prompt-ready memory block for ``query``, within ``token_budget`` tokens.

        Sections: the user's profile, preferences relevant to the query (and always what the
        assistant learned about its own behaviour with this user), relevant facts and past
        turns (hybrid search over every session of the user), and the recent turns of the
        session ``run_id``, deduplicated; every line carries a short id tag. See
        :mod:`memoryd.context.builder` for what is kept. What is included heats its segments.
        ``exclude``: texts the prompt already holds (a request's messages); memories that
        repeat one are left out before the budget is spent. An agent of a user reads its own
        memories and the user's shared ones (no agent), never another agent's; naming a user and no
        agent reads every agent's and the shared ones, one current entry per profile attribute and
        stance on a thing (:mod:`memoryd.context.current`). ``reference_time``: the asker's now, as
        :meth:`search` takes it: relative dates in the query ("last Sunday") are read against it
        (default: the memory's clock), and a day the query names and a past turn's date are days in its
        UTC offset (UTC when it has none or none is given)."""
        cfg = self.settings.context
        check_query(query, self.settings.limits.max_query_chars)
        budget = cfg.token_budget if token_budget is None else token_budget
        check_int("token_budget", budget, 1, MAX_TOKEN_BUDGET)
        texts = check_texts("exclude", exclude, 1000)
        now = parse_time(reference_time, field_name="reference_time")
        scope = _scope(user_id, agent_id, run_id).require()
        owner, session = owner_scope(scope), scope if run_id is not None else None
        # no user named: the memories of no user; an agent of a user: its own and the user's shared
        # ones (no agent), as its writes are reconciled with
        also: Filter | None = _NO_USER if user_id is None else None
        if user_id is not None and agent_id is not None:
            owner, also = agent_view(user_id, agent_id)
            if session is not None:  # the session's shared turns too (``mine``: never another agent's)
                session = Scope(user_id=user_id, run_id=run_id)
        # a user with no agent named: every memory of the user (shared, every agent's), as search
        # reads them; one current entry per single-valued attribute and taste (OneCurrent)
        one = user_id is not None and agent_id is None
        await self._ready()
        vector = asyncio.ensure_future(self._embed.query([query]))

        async def embed_once(texts: Sequence[str]) -> np.ndarray:
            return await asyncio.shield(vector)  # one query vector for both searches

        searcher = HybridSearcher(self.storage, embed_once, self.settings.search, self.tiers.clock)
        records = self.storage.records
        wide = cfg.max_facts * 2 + cfg.max_episodes
        # The hits' records are only read here (the context holds copies of their text): shared.
        def mine(where: Filter | None) -> Filter | None:
            return where if also is None else And((where, also)) if where else also

        pref_request = SearchRequest(
            query, owner, mine(_PREFERENCES), cfg.max_facts, None, None, False, now, shared=True
        )
        wide_request = SearchRequest(query, owner, mine(None), wide, None, None, False, now, shared=True)
        try:
            profile, assistant, prefs, hits, recent = await asyncio.gather(
                self._newest(owner, mine(_PROFILE), None if one and cfg.max_facts > 0 else cfg.max_facts),
                self._newest(owner, mine(_ASSISTANT), cfg.max_facts),
                _search(searcher, pref_request),
                _search(searcher, wide_request),
                records.latest(session, mine(EPISODES), limit=cfg.recent_turns)
                if session is not None and cfg.recent_turns
                else _nothing(),
            )
        finally:
            if not vector.done():
                vector.cancel()
            await asyncio.gather(vector, return_exceptions=True)
        if one:  # every profile entry read (of the profile's first, best ranked: at most max_facts)
            view = OneCurrent([*profile, *(h.memory for h in (*prefs, *hits))])
            profile, prefs, hits = view.records(profile)[: cfg.max_facts], view.hits(prefs), view.hits(hits)
        said = {" ".join(t.split()) for t in texts} - {""}
        cands = gather(recent, profile, assistant, prefs, hits, max_facts=cfg.max_facts,
                       max_episodes=cfg.max_episodes, exclude=said)  # fmt: skip
        zone = now.tzinfo if now is not None and now.tzinfo is not None else UTC
        built = await build_context_off_loop(cands, budget, tz=zone)
        used = {i.id for i in built.items if i.section != RECENT}
        self.tiers.note(c.memory for c in cands if c.memory.id in used)
        return built

    async def _newest(self, owner: Scope, where: Filter | None, limit: int | None) -> list[MemoryRecord]:
        """The owner's first ``limit`` (None: all) current memories matching ``where`` by ``profile_rank``
        (name, home, workplace, then newest; one indexed scan): the profile, the assistant's lessons."""
        if limit is not None and limit <= 0:
            return []
        ids = await self.storage.records.select_ids(owner, where, cap=_PROFILE_CAP)
        found = await self.storage.records.get_many(ids, shared=True)
        return sorted(found.values(), key=profile_rank, reverse=True)[:limit]

    async def users(self, *, user_id: str | None = None) -> list[dict[str, Any]]:
        """Every known (user_id, agent_id) owner with its current memories, by kind, most first,
        and the size of each of its tiers (``tiers``: short-term and mid-term turns, segments);
        with ``user_id``, only that user's rows (one per agent). A scan: see
        :mod:`memoryd.hierarchy.owners`."""
        await self._ready()
        return await list_owners(self.storage.records, self.tiers, _scope(user_id, None, None))

    async def tree(
        self,
        user_id: str | None = None,
        *,
        agent_id: str | None = None,
        episodes: int = 20,
        long_term: int = LONG_TERM_SHOWN,
        segments: int = SEGMENTS_SHOWN,
    ) -> dict[str, Any]:
        """The memory tree of one owner as :meth:`users` lists it (``user_id`` None: an agent's own
        memories; nothing stored: NotFoundError): topics > segments > facts and episodes, short-term
        turns, long-term memories. At most ``long_term`` memories per long-term group (the most
        recently updated) and the ``segments`` hottest segments; ``counts`` gives every total and
        ``omitted`` what was left out and how to list it. See :mod:`memoryd.hierarchy.tree`."""
        owner = tree_owner(user_id, agent_id, episodes, long_term=long_term, segments=segments)
        await self._ready()
        return await self.tiers.tree(owner, episodes=episodes, long_term=long_term, segments=segments)

    async def delete_user(self, user_id: str, *, queue_mark_ms: int | None = None) -> int:
        """Forget a user: every memory with this ``user_id`` (any agent, any session, current
        or superseded) leaves the record store, both indexes and the graph, and so do their
        history rows and their place in the memory hierarchy, and, in the embedded store, the bytes
        of the file and its WAL (see README). Returns how many memories.

        ``queue_mark_ms``: the deletion's time on the async pipeline's queue (what
        :meth:`Pipeline.forget_user` read on Redis's clock). The deletion begins with the store's
        mark (its first write): from its commit the store refuses the user's events, those the
        queue took up to ``queue_mark_ms`` (else: those made before this call, on this host's
        clock), and a callback given by :func:`on_erasure_begun` runs. A failure before it leaves
        nothing changed; one after it (a full disk, say) leaves the mark, and the deletion begun:
        sending it again finishes it."""
        if not isinstance(user_id, str) or not user_id.strip():
            raise InvalidInputError("user_id must be a non-empty string", field="user_id")
        await self._ready()
        who = Scope(user_id=user_id)
        await self.tiers.stop_promotions()
        await begin_erasure(self.storage, user_id, utcnow(), queue_mark_ms)
        async with self._writing.of(who):  # an add meanwhile would lose its place in the hierarchy
            ids = await self.storage.records.select_ids(who, None, include_expired=True)
            deleted = await erase_scope(self.storage, who, utcnow(), _DELETE_ALL)
            await self.storage.records.purge_history(who, ids)
            await self.tiers.purge(who)
        await self.storage.keywords.compact()  # deleted terms linger in FTS segments until merged
        if self.storage.usage is not None:  # and the chat gateway's usage counters
            await self.storage.usage.delete_user(user_id)
        await self.storage.records.forget_changes()  # the log other processes' caches read names them
        await self.storage.records.erase_traces()  # last: older copies of their pages (the WAL's)
        return deleted

    async def applied_event(self, event_id: str) -> AppliedRecord | None:
        """What the store recorded of the async-pipeline event ``event_id`` (as the stream names it,
        see :func:`memoryd.pipeline.events.stored_event_id`) if a write applied it: its add's
        digest, and when. A producer asks before it queues an add under an id its client gave."""
        await self._ready()
        return (await self.storage.records.applied_records([event_id])).get(event_id)

    async def history(
        self,
        memory_id: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[HistoryEntry]:
        """Every recorded change of one memory, oldest first (kept after deletion).

        With a scope, only the history of a memory that scope owned."""
        if not isinstance(memory_id, str) or not memory_id.strip():
            raise InvalidInputError("memory_id must be a non-empty string", field="memory_id")
        require_utf8(memory_id, "memory_id")
        scope = _scope(user_id, agent_id, run_id)
        await self._ready()
        entries = await self.storage.records.history(memory_id, None if scope.is_empty else scope)
        if not entries:
            raise NotFoundError(f"no memory with id {memory_id!r}", field="memory_id")
        return entries

    async def health(self) -> dict[str, Any]:
        """Each dependency's state, for ``/health`` and ``doctor`` (:mod:`memoryd.maintenance.health`)."""
        return await store_health(self)


_PROFILE = parse_filter({"kind": MemoryKind.PROFILE.value})
_PREFERENCES = parse_filter({"kind": MemoryKind.PREFERENCE.value})
_ASSISTANT = parse_filter({"kind": MemoryKind.PREFERENCE.value, "about": ABOUT_ASSISTANT})
_PROFILE_CAP = 500
Meta = dict[str, Any] | None
_NO_USER = Cond("user_id", "eq", None)  # an agent's (or session's) own memories, not its users'

def _drop(future: asyncio.Future[Any]) -> None:
    """Cancel ``future``, or take its exception if it has one (not logged as never retrieved)."""
    if not future.cancel() and not future.cancelled():
        future.exception()


async def _search(searcher: HybridSearcher, request: SearchRequest) -> list[SearchHit]:
    return await searcher.search(request) if request.limit > 0 else []


async def _nothing() -> list[MemoryRecord]:
    return []
