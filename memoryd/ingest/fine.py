"""Fine mode: episodes are stored, then an LLM turns them into facts and relations.

One ``add`` in the common case costs at most two LLM calls: extraction of the
new messages (with a few earlier turns of the session as context), then one
batched reconciliation of every new fact against the most similar memories
already known. Embeddings of the episodes are computed while the extraction
call runs; embeddings of all extracted facts in one batch.

Nothing is ever lost: the raw messages are stored as episodes whatever the
LLM does. If extraction fails (no target answers, unusable output after one
re-ask, or any unexpected error), the add still succeeds in fast mode and
says why; if only reconciliation fails, every new fact is added. Facts about
a user are kept at the user/agent level (``run_id`` is recorded as provenance
in metadata) so a later session can update what an earlier one said.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from memoryd.config import FineConfig
from memoryd.errors import BackendUnavailableError, MemorydError
from memoryd.filters import EPISODES, And, Cond, parse_filter
from memoryd.graph.models import GraphDiff, RelationDraft
from memoryd.ingest.derived import agent_view, derived_memory, owner_scope
from memoryd.ingest.extract import (
    MAX_FACT_CHARS,
    MAX_PROMPT_MESSAGE_CHARS,
    Extraction,
    NewMessage,
    extraction_messages,
)
from memoryd.ingest.fast import FastPlan
from memoryd.ingest.inputs import AddInput
from memoryd.ingest.reconcile import (
    NO_DECISION,
    Decision,
    Reconciliation,
    clipped,
    decide,
    reconcile_messages,
    unnumbered,
)
from memoryd.ingest.repeats import said_after_an_end
from memoryd.ingest.represent import EpisodeIndex, Represent
from memoryd.ingest.speakers import naming, other_speakers, someone_else, subject_of, whose
from memoryd.ingest.timelines import SINGLE_VALUED, ended_after, settle_profile
from memoryd.llm import Router, structured
from memoryd.models import (
    AddResult,
    AddResults,
    Event,
    LLMUsage,
    MemoryKind,
    MemoryRecord,
    Scope,
    content_hash,
    fact_key,
)
from memoryd.storage import ChangeSet, HistoryDraft, Storage, StoredMemory

__all__ = ["Commit", "FineIngestor"]

log = logging.getLogger("memoryd.ingest")
Embed = Callable[[Sequence[str]], Awaitable[np.ndarray]]
Commit = Callable[[ChangeSet, LLMUsage], Awaitable[GraphDiff]]
# Profile memories too: fast mode's rules write them ("The user lives in Porto."), fine mode may
# supersede them later.
_KINDS = {"kind": {"in": [MemoryKind.FACT.value, MemoryKind.PREFERENCE.value, MemoryKind.PROFILE.value]}}
_KNOWN = Cond("kind", "in", _KINDS["kind"]["in"])
# A write that names no user (an agent's or a session's own) reconciles with memories of no user:
# a scope read as a prefix would otherwise show it, and let it rewrite, every user's with that agent.
_KNOWN_NO_USER = parse_filter({"AND": [_KINDS, {"user_id": None}]})
_EPISODES_NO_USER = parse_filter({"kind": MemoryKind.EPISODE.value, "user_id": None})
_MAX_WHY = 200  # characters of an unexpected error shown in llm.fallback
# An answer cut short (structured output's ``truncated``), in llm.incomplete
_CUT_SHORT = "was cut short (stopped at the model's token limit, or its JSON ends unclosed)"


@dataclass
class _Fact:
    index: int  # position in the extraction
    text: str
    kind: MemoryKind
    meta: dict[str, Any]
    sources: list[str]  # episode memory ids it came from
    when: datetime | None
    vector: np.ndarray
    memory_id: str | None = None  # the memory that now holds it (for relations)
    owner: Scope | None = None  # that memory's scope: its relations are its owner's (shared or an agent's)
    retext: bool = False  # its text is no longer the one ``vector`` was computed for
    model: str | None = None  # the LLM target that extracted it (provider:model@host), for its history
    at: int = 0  # the position in the add of the last new message it comes from: the order it was said in


@dataclass
class _Work:
    changes: ChangeSet = field(default_factory=ChangeSet)
    results: list[AddResult] = field(default_factory=list)
    reembed: list[int] = field(default_factory=list)  # upserts whose merged text needs a vector
    # The memory that holds each text (models.fact_key) current after this add, as far as reconciliation
    # knows (the memories shown, what the add wrote): an UPDATE or ADD to one of them is a NOOP of it
    held: dict[str, MemoryRecord] = field(default_factory=dict)

    def hold(self, old: MemoryRecord | None, new: MemoryRecord | None) -> None:
        """``old``'s text no longer held by it (ended, or rewritten as ``new``); ``new``'s held."""
        if old is not None and self.held.get(fact_key(old.text), old).id == old.id:
            self.held.pop(fact_key(old.text), None)
        if new is not None:
            self.held.setdefault(fact_key(new.text), new)

    def current(self, memory: MemoryRecord) -> MemoryRecord:
        """``memory`` as this add has changed it so far (a NOOP's new source, ...)."""
        return next((u.memory for u in self.changes.upserts if u.memory.id == memory.id), memory)

    def stage(self, stored: StoredMemory) -> int:
        """Upsert ``stored``, replacing what this add staged for the same memory (built on it with
        :meth:`current`; its vector and terms kept unless given): one upsert per memory, else the
        last would win at the commit and undo the others. Its position in the upserts."""
        upserts = self.changes.upserts
        at = next((i for i, u in enumerate(upserts) if u.memory.id == stored.memory.id), None)
        if at is None:
            upserts.append(stored)
            return len(upserts) - 1
        before = upserts[at]
        upserts[at] = replace(
            stored,
            vector=stored.vector if stored.vector is not None else before.vector,
            terms=stored.terms if stored.terms is not None else before.terms,
        )
        return at


class FineIngestor:
    """Runs extraction and reconciliation for one ``add`` and builds its change set."""

    def __init__(
        self, storage: Storage, embed: Embed, router: Router, config: FineConfig, represent: Represent
    ) -> None:
        self.storage = storage
        self.embed = embed
        self.router = router
        self.config = config
        self.represent = represent

    async def add(
        self,
        data: AddInput,
        plan: FastPlan,
        episodes: Coroutine[Any, Any, EpisodeIndex],
        now: datetime,
        actor: str,
        *,
        commit: Commit | None = None,
    ) -> AddResults:
        """Store ``plan``'s episodes (``episodes`` indexes them) and what the LLM finds, in one
        commit (``commit``: the caller's, which may add to the change set; default the store's)."""
        usage = LLMUsage()
        work = _Work(results=list(plan.results))
        episode_index = asyncio.ensure_future(episodes)  # started first: awaited or cancelled below
        try:
            # The new turns, and those said again whose facts have ended since (what they state may
            # hold again, as fast mode's rules read them): in the order said
            anew = {a.turn.id for a in await said_after_an_end(self.storage, data.scope, plan.again)}
            fresh: list[tuple[str, NewMessage]] = [
                (res.id, NewMessage(msg, when))
                for msg, when, res in zip(data.messages, data.times, plan.results)
                if res.id is not None and (res.event is Event.ADD or res.id in anew)
            ]
            got = await self._extract(data, [n for _, n in fresh], now, usage) if fresh else None
            extraction, extracted_by = got if got is not None else (None, {})
            index = await episode_index
        except BaseException:
            episode_index.cancel()
            raise
        for i, memory in enumerate(plan.new):
            work.changes.upserts.append(StoredMemory(memory, index.vectors[i], index.terms[i]))
            work.changes.history.append(
                HistoryDraft.of(memory, Event.ADD, None, memory.text, actor + "/episode", now)
            )
        relations: dict[str, list[dict[str, str]]] = {"added_entities": [], "deleted_entities": []}
        if extraction is not None and (extraction.facts or extraction.relations):
            episodes_only = _Work(
                ChangeSet(upserts=list(work.changes.upserts), history=list(work.changes.history)),
                results=list(work.results),
            )
            try:
                turns = [r.memory for r in plan.results if r.event is Event.ADD and r.memory is not None]
                turns += [a.turn for a in plan.again if a.turn.id in anew]
                facts = await self._facts(extraction, data, fresh, turns, extracted_by)
                if facts:
                    await self._reconcile(facts, data, now, actor, usage, work)
                    # One home (name, workplace) at a time whatever the model decided, as in fast mode
                    settled = settle_profile(self.storage.records, work.changes, work.results, now, actor)
                    work.results = await settled
                unasserted = self._relations(extraction, facts, data, now, work, [mid for mid, _ in fresh])
                if unasserted:  # the fact it hangs on holds nothing (a DELETE): said, and the turns due
                    usage.fell_short(
                        f"{len(unasserted)} extracted relations were not stored: the fact each was tied "
                        "to is held by no memory (it only says that one is no longer true: "
                        f"{'; '.join(unasserted)}; the turns are left for the hierarchy to extract again)"
                    )
                _one_upsert_each(work.changes)
            except MemorydError:
                raise  # a store or embedder that is down: an honest error, nothing half-written
            except Exception as exc:  # a defect on some odd LLM output must not cost the messages
                log.exception("fine mode failed after extraction; storing the episodes only")
                usage.fallback = f"fine mode failed ({type(exc).__name__}); stored as in fast mode"
                work = episodes_only
        diff = await (commit or self._commit)(work.changes, usage)
        if diff is not None:
            relations = diff.to_dict()
        return AddResults(work.results, mode="fine", llm=usage, relations=relations)

    async def _commit(self, changes: ChangeSet, usage: LLMUsage) -> GraphDiff:
        return await self.storage.commit(changes)

    # -- step 1: extraction --------------------------------------------------
    async def _extract(
        self, data: AddInput, new: list[NewMessage], now: datetime, usage: LLMUsage
    ) -> tuple[Extraction, dict[str, str]] | None:
        """The facts and relations of ``new``: one call per window of consecutive messages that
        fits ``max_prompt_chars`` (a long add is not one prompt past the model's context), each
        window's facts capped at ``max_facts``, their handles renumbered into one extraction;
        with the target that extracted each fact (by :func:`fact_key` of its text).
        None when no window gave one (``usage.fallback`` says why); some windows failing leaves
        the others' facts and says so (``usage.incomplete``)."""
        context = await self._context(data.scope)
        facts: list[Any] = []
        extracted_by: dict[str, str] = {}
        relations: list[Any] = []
        failed: list[str] = []
        capped = refused = 0  # facts past max_facts, and items refused, of every window
        windows = _windows(new, self.config.max_prompt_chars)
        for start, part in windows:
            answer = await self._extract_window(part, context, now, usage)
            if isinstance(answer, str):
                where = "" if len(windows) == 1 else f"messages {start}-{start + len(part) - 1}: "
                failed.append(where + answer)
                continue
            got, target = answer
            kept, offset = got.facts[: self.config.max_facts], len(facts)
            for f in kept:  # as Extraction keeps the first of two facts of one text
                extracted_by.setdefault(fact_key(f.text), target or "")
            capped += len(got.facts) - len(kept)
            refused += got.refused_facts + got.refused_relations
            facts += [f.model_copy(update={"sources": [s + start for s in f.sources]}) for f in kept]
            for r in got.relations:
                fact = r.fact + offset if r.fact is not None and r.fact < len(kept) else None
                relations.append(r.model_copy(update={"fact": fact}))
        if len(failed) == len(windows):
            usage.fallback = failed[-1]
            return None
        if failed:
            usage.fell_short("extraction failed for part of the add: " + "; ".join(failed))
        # What is left out past a cap is said, and the turns stay due, as for an answer cut short
        left = "(every message is stored; the turns are left for the hierarchy to extract again)"
        if refused:
            usage.fell_short(
                f"{refused} extracted facts or relations were refused (a text empty, over {MAX_FACT_CHARS} "
                f"characters or not UTF-8; a name empty, with no letter or digit, too long or with control "
                f"characters) {left}"
            )
        if capped:
            usage.fell_short(
                f"{capped} extracted facts past fine.max_facts ({self.config.max_facts} per call) "
                f"were left out {left}"
            )
        if len(relations) > self.config.max_relations:
            usage.fell_short(
                f"{len(relations) - self.config.max_relations} extracted relations past "
                f"fine.max_relations ({self.config.max_relations}) were left out {left}"
            )
            relations = relations[: self.config.max_relations]
        return Extraction(facts=facts, relations=relations), extracted_by

    async def _extract_window(
        self, new: list[NewMessage], context: list[MemoryRecord], now: datetime, usage: LLMUsage
    ) -> tuple[Extraction, str | None] | str:
        """One extraction call (``new``'s handles from 0) and the target that answered it, or why
        it gave nothing."""
        try:
            out = await structured(
                self.router, extraction_messages(new, context, now), Extraction, instruct=False
            )
            usage.record(out)
            if out.value is None:
                return f"extraction output unusable, stored as in fast mode: {out.error}"
            if out.truncated:  # kept what came before the cut; the turns stay due for another pass
                usage.fell_short(
                    f"the extraction answer {_CUT_SHORT}: facts after the cut are missing "
                    "(every message is stored; the turns are left for the hierarchy to extract again)"
                )
            return out.value.checked(len(new)), out.target
        except BackendUnavailableError as exc:
            usage.calls += int(exc.details.get("calls", 0))  # made, though none answered
            return f"LLM unavailable, stored as in fast mode: {exc.message}"
        except Exception as exc:  # a defect on some odd LLM reply must not cost the messages
            log.exception("fine mode extraction failed; storing the episodes only")
            why = f"{type(exc).__name__}: {exc}"[:_MAX_WHY]
            return f"extraction failed ({why}), stored as in fast mode"

    async def _context(self, scope: Scope) -> list[MemoryRecord]:
        """The last few episodes of the same session, oldest first."""
        if scope.run_id is None or self.config.context_messages == 0:
            return []
        # As in _similar: a write that names no user sees the session's episodes of no user, never
        # what the users of that agent or session said (their words would reach its prompt).
        mine = EPISODES if scope.user_id is not None else _EPISODES_NO_USER
        latest = await self.storage.records.latest(scope, mine, limit=self.config.context_messages)
        return list(reversed(latest))

    async def _facts(
        self,
        extraction: Extraction,
        data: AddInput,
        fresh: list[tuple[str, NewMessage]],
        turns: list[MemoryRecord],
        extracted_by: dict[str, str],
    ) -> list[_Fact]:
        """The extraction's facts, embedded; a profile entry or preference that only another
        speaker's turns (``turns``: the new episodes) stated as a fact about them (:func:`_theirs`);
        each with the target that extracted it (``extracted_by``, by :func:`fact_key` of its text)."""
        episode_ids = [mid for mid, _ in fresh]
        wanted = extraction.facts  # capped per window of messages (_extract)
        sourced = [
            list(dict.fromkeys(episode_ids[s] for s in f.sources)) or list(episode_ids) for f in wanted
        ]
        personal = {s for f, ids in zip(wanted, sourced) if f.kind != "fact" for s in ids}
        others = await other_speakers(self.storage.records, turns, personal) if personal else {}
        drafts: list[tuple[str, MemoryKind, dict[str, Any]]] = []
        for f, sources in zip(wanted, sourced):
            meta: dict[str, Any] = dict(data.metadata)
            meta["about"] = f.about
            if f.preference:
                meta["preference"] = f.preference
            if f.kind == "profile":  # as fast mode's rules write them: the profile's "name", "work", ...
                meta["attribute"] = f.attribute or "other"
            drafts.append(_theirs(f.text, f.memory_kind, meta, [others.get(s) for s in sources]))
        vectors = await self.embed([text for text, _, _ in drafts])
        facts = []
        for i, (f, sources, (text, kind, meta)) in enumerate(zip(wanted, sourced, drafts)):
            times = [t for t in (fresh[s][1].time for s in f.sources) if t is not None]
            when = max(times) if times else next((t for t in data.times if t is not None), None)
            model, at = extracted_by.get(fact_key(f.text)) or None, max(f.sources, default=len(fresh) - 1)
            facts.append(_Fact(i, text, kind, meta, sources, when, vectors[i], model=model, at=at))
        return facts

    def _restated(
        self, target: MemoryRecord, fact: _Fact, actor: str, now: datetime, work: _Work, why: str = ""
    ) -> None:
        """A known memory stated again: a NOOP in its history, and the new turns join its sources,
        so that deleting the turn that first said it leaves it standing (as fast mode's rules do).
        ``why``: what the model decided instead, said after the reason."""
        fact.memory_id, fact.owner = target.id, target.scope
        work.changes.history.append(HistoryDraft.of(target, Event.NOOP, target.text, fact.text, actor, now))
        reason = f"already known as memory {target.id}{why}"
        work.results.append(_result(Event.NOOP, fact, target.id, reason))
        base = work.current(target)
        sources = tuple(dict.fromkeys([*base.source_ids, *fact.sources]))
        if sources != base.source_ids:
            work.stage(StoredMemory(base.with_changes(source_ids=sources), existing=True))

    # -- step 2: reconciliation ---------------------------------------------
    async def _similar(self, facts: list[_Fact], scope: Scope) -> list[MemoryRecord]:
        """The union of each fact's nearest current facts/preferences in the scope: a user's write
        sees the user's memories that every agent shares (no agent_id) and, naming an agent, that
        agent's own too; not another agent's (an agentless write closed a health bot's memory,
        and one naming a bot left the user's shared home current beside the new one)."""
        known = _KNOWN_NO_USER
        if scope.user_id is not None:
            scope, theirs = agent_view(scope.user_id, scope.agent_id)
            known = And((_KNOWN, theirs))
        allowed = set(await self.storage.records.select_ids(scope, known, cap=200_000))
        if not allowed:
            return []
        found: dict[str, float] = {}
        per_fact = self.config.similar_per_fact
        for fact in facts:
            for mid, cos in await self.storage.vectors.search(
                fact.vector, scope=scope, limit=per_fact, allowed=allowed
            ):
                if cos >= self.config.similarity_floor:
                    found[mid] = max(cos, found.get(mid, -1.0))
        best = sorted(found, key=lambda m: -found[m])[: self.config.max_existing]
        records = await self.storage.records.get_many(best)
        return [records[m] for m in best if m in records]

    async def _reconcile(
        self, facts: list[_Fact], data: AddInput, now: datetime, actor: str, usage: LLMUsage, work: _Work
    ) -> None:
        scope = owner_scope(data.scope)
        existing = await self._similar(facts, scope)
        by_key = {fact_key(m.text): m for m in existing}
        pending: list[_Fact] = []
        restated: dict[str, list[_Fact]] = {}  # the facts of this add that state a memory again
        for fact in facts:
            same = by_key.get(fact_key(fact.text))
            if same is not None and not _someone_elses(fact, same):  # verbatim known: no need to ask
                restated.setdefault(same.id, []).append(fact)
                since = len(work.changes.history)
                self._restated(same, fact, actor, now, work)
                _told(work, since, len(work.results), extracted_by=fact.model)
            else:
                pending.append(fact)
        if not pending:
            return
        decided_by: str | None = None  # the target whose reconciliation answer was used
        if not existing:
            decisions = [Decision(i, "ADD") for i in range(len(pending))]
        else:
            raw: Reconciliation | None = None
            note = ""
            try:
                out = await structured(
                    self.router,
                    reconcile_messages(existing, [f.text for f in pending]),
                    Reconciliation,
                    instruct=False,
                )
                usage.record(out)
                raw = out.value
                decided_by = out.target if raw is not None else None
                note = f"reconciliation output unusable ({out.error}); added as new"
                if out.truncated:
                    usage.fell_short(f"the reconciliation answer {_CUT_SHORT}")
            except BackendUnavailableError as exc:
                usage.calls += int(exc.details.get("calls", 0))
                note = f"LLM unavailable for reconciliation ({exc.message}); added as new"
            if raw is None:  # facts added as new, unreconciled: said so, and the turns stay due
                usage.fell_short(note)

            def apart(f: int, t: int) -> bool:
                """About two people: Melanie's "Melanie lives in Paris." must not end the user's home."""
                return _someone_elses(pending[f], existing[t])

            def held(f: int, event: str, t: int) -> bool:
                """Ending a memory (an UPDATE of a home is its end) that this add states again word for
                word after fact ``f`` ("I gave Rex away. I have a dog named Rex."): the user's last word
                says it holds, against the model's reading of the earlier fact."""
                said = [_said(r, now) > _said(pending[f], now) for r in restated.get(existing[t].id, [])]
                return any(said) and _ends(event, existing[t])

            ids = [m.id for m in existing]
            n = len(pending)
            decisions = decide(raw, n, len(existing), fallback=note, apart=apart, held=held, ids=ids)
            stray = unnumbered(raw, n, len(existing), ids)
            if stray:  # for a fact the model was not shown: which fact it meant is unknown, said and due
                usage.fell_short(
                    f"reconciliation gave {len(stray)} decisions for no new fact (numbered outside 0 to "
                    f"{n - 1}: {'; '.join(stray)}); not applied (the turns are left for the hierarchy "
                    "to reconcile again)"
                )
            unsettled = sum(d.unsettled for d in decisions)
            if raw is not None and unsettled:  # added as new, unreconciled: said, and the turns stay due
                usage.fell_short(
                    f"reconciliation gave no usable decision for {unsettled} of {len(pending)} new facts; "
                    "added as new (the turns are left for the hierarchy to reconcile again)"
                )
            overruled = sum(bool(d.also) for d in decisions)
            if overruled:  # the model could not choose: what it chose first is applied, said, and due
                usage.fell_short(
                    f"reconciliation gave more than one decision for {overruled} of {len(pending)} new "
                    "facts; the first of each was applied, the others not (each said in its fact's "
                    "reason; the turns are left for the hierarchy to reconcile again)"
                )
        # What the answer ends holds its text no longer (an UPDATE of a home is applied as its end)
        shown = [(d.event, existing[d.target]) for d in decisions if d.target is not None]
        ending = {m.id for event, m in shown if _ends(event, m)}
        work.held = {fact_key(m.text): m for m in reversed(existing) if m.id not in ending}
        since = len(work.changes.history)
        for decision in decisions:
            fact = pending[decision.fact]
            history, results = len(work.changes.history), len(work.results)
            self._apply(decision, fact, existing, scope, data, now, actor, work)
            by = decided_by if decision.note != NO_DECISION else None  # the model left it undecided
            over = decision.overruled
            _told(work, history, results, extracted_by=fact.model, decided_by=by, not_applied=over)
        # A memory said again before the fact that ends it ("I had a dog named Rex. I gave him away.")
        work.results = ended_after(work.results, work.changes.history[since:])
        if work.reembed:  # merged texts of UPDATEs, in one batch
            upserts = work.changes.upserts
            vectors = await self.embed([upserts[i].memory.text for i in work.reembed])
            for row, i in enumerate(work.reembed):
                upserts[i] = replace(upserts[i], vector=vectors[row])

    def _apply(
        self,
        d: Decision,
        fact: _Fact,
        existing: list[MemoryRecord],
        scope: Scope,
        data: AddInput,
        now: datetime,
        actor: str,
        work: _Work,
    ) -> None:
        target = existing[d.target] if d.target is not None else None
        when = fact.when or now
        rewrite = d.event == "UPDATE" and d.text
        if target is not None and rewrite and fact_key(d.text or "") == fact_key(target.text):
            d = replace(d, event="NOOP")  # "merged" into the very text it has: nothing changes
        if d.event == "NOOP" and target is not None:
            self._restated(target, fact, actor, now, work)
            return
        # A text another current memory holds (shown, or written by this add) is known as that one,
        # never a second copy of it: "merged" into it, or added again beside it
        text = d.text if d.event == "UPDATE" and target is not None and d.text else fact.text
        same = work.held.get(fact_key(text)) if d.event in ("UPDATE", "ADD") else None
        if same is not None and not _someone_elses(fact, same):
            what = f"an UPDATE of memory {target.id}" if d.event == "UPDATE" and target else "an ADD"
            self._restated(same, fact, actor, now, work, f"; the model's {what} would have copied it")
            return
        if d.event == "UPDATE" and target is not None and d.text and _single_valued(target):
            # A name, home or workplace has one value at a time: a new one is a new period (the old
            # one holds until it, for as_of), not a rewrite of the past. The memory keeps its kind.
            fact.retext = fact.retext or d.text != fact.text
            fact.text, fact.kind = d.text, target.kind
            fact.meta = {**fact.meta, "attribute": target.metadata["attribute"]}
            d = replace(d, event="SUPERSEDE", text=None)
        if d.event == "UPDATE" and target is not None and d.text:
            base = work.current(target)  # with what this add staged already (a NOOP's new source)
            merged = base.with_changes(
                text=d.text,
                hash=content_hash(d.text),
                updated_at=now,
                source_ids=tuple(dict.fromkeys([*base.source_ids, *fact.sources])),
            )
            terms = self.represent.terms(merged)
            at = work.stage(StoredMemory(merged, None, terms, existing=True))
            work.hold(base, merged)
            work.changes.history.append(
                HistoryDraft.of(target, Event.UPDATE, target.text, d.text, actor, now)
            )
            fact.memory_id, fact.owner = target.id, target.scope
            fact.text, fact.kind = d.text, target.kind  # the memory keeps its kind
            work.results.append(_result(Event.UPDATE, fact, target.id, None, previous=target.text))
            if at not in work.reembed:
                work.reembed.append(at)
            return
        if d.event in ("SUPERSEDE", "DELETE") and target is not None and when < target.valid_from:
            # The new fact was said before the target became true (history added late): the
            # target stays current; a superseding fact is kept as what held until then.
            if d.event == "DELETE":
                fact.memory_id = None
                reason = f"said before memory {target.id} became true, which stays current"
                noop = HistoryDraft.of(target, Event.NOOP, target.text, fact.text, actor, now)
                work.changes.history.append(noop)
                work.results.append(_result(Event.NOOP, fact, target.id, reason))
                return
            added = self._add(fact, data, when, now, actor, work, valid_to=target.valid_from)
            work.changes.graph_close_memories.append(added.id)  # its relations end with it
            work.results.append(_result(Event.ADD, fact, added.id, f"history: until memory {target.id}"))
            return
        if d.event in ("SUPERSEDE", "DELETE") and target is not None:
            if when == target.valid_from:  # said at the same instant: this one is the later word, and
                when += timedelta(microseconds=1)  # both validity intervals stay non-empty
            ends = when
            closed = work.current(target).with_changes(valid_to=ends, updated_at=now)
            work.stage(StoredMemory(closed, existing=True))
            work.hold(target, None)
            work.changes.graph_close_memories.append(target.id)
            event = Event.SUPERSEDE if d.event == "SUPERSEDE" else Event.DELETE
            work.changes.history.append(
                HistoryDraft.of(target, event, target.text, fact.text, actor, now, valid_to=ends.isoformat())
            )
            if d.event == "DELETE":
                fact.memory_id = None
                reason = "no longer true; kept as history"
                work.results.append(_result(Event.DELETE, fact, target.id, reason, previous=target.text))
                return
        # What replaces a memory the user's agents share is shared too: stored under the one agent
        # that heard it, a later write naming no agent would not see it and keep two homes current.
        shared = target is not None and target.agent_id is None and data.scope.agent_id is not None
        memory = self._add(fact, data, when, now, actor, work, shared=shared)
        if target is not None:  # SUPERSEDE
            reason = f"replaces memory {target.id}" + (f" ({d.note})" if d.note else "")
            work.results.append(_result(Event.SUPERSEDE, fact, memory.id, reason, previous=target.text))
        else:
            work.results.append(_result(Event.ADD, fact, memory.id, d.note))

    def _add(
        self,
        fact: _Fact,
        data: AddInput,
        when: datetime,
        now: datetime,
        actor: str,
        work: _Work,
        valid_to: datetime | None = None,
        *,
        shared: bool = False,
    ) -> MemoryRecord:
        """Add ``fact`` as a new memory, valid from ``when`` (until ``valid_to``, if given);
        ``shared``: the user's, for every agent (no ``agent_id``)."""
        origin = replace(data.scope, agent_id=None) if shared else data.scope
        memory = derived_memory(
            fact.text,
            fact.kind,
            origin,
            source_ids=fact.sources,
            metadata=fact.meta,
            event_time=fact.when,
            valid_from=when,
            now=now,
        )
        if valid_to is not None:
            memory = memory.with_changes(valid_to=valid_to)
        fact.memory_id, fact.owner = memory.id, memory.scope
        if valid_to is None:
            work.hold(None, memory)
        work.changes.upserts.append(StoredMemory(memory, fact.vector, self.represent.terms(memory)))
        if fact.retext:
            work.reembed.append(len(work.changes.upserts) - 1)
        details = {"valid_to": valid_to.isoformat()} if valid_to is not None else {}
        added = HistoryDraft.of(memory, Event.ADD, None, memory.text, actor, now, **details)
        work.changes.history.append(added)
        return memory

    # -- graph ---------------------------------------------------------------
    def _relations(
        self,
        extraction: Extraction,
        facts: list[_Fact],
        data: AddInput,
        now: datetime,
        work: _Work,
        episodes: list[str],
    ) -> list[str]:
        """The extraction's relations, each asserted by its fact's memory; one the model tied to no
        fact by the fact that names both its ends, if one does (so that it ends when that fact is
        superseded), else (or in an extraction without facts) by the add's first new episode, as of
        when it was said. Those tied to a fact that no memory holds (a DELETE, which ends one) are
        not stored: returned, as "source relation target" with the fact's text."""
        unasserted: list[str] = []
        scope = owner_scope(data.scope)
        first = facts[0].sources if facts and facts[0].sources else episodes
        fallback = first[0] if first else None
        said = next((t for t in data.times if t is not None), None) or now
        stored_as = {u.memory.id: u.memory.scope for u in work.changes.upserts}  # a home made shared, say
        for rel in extraction.relations:  # capped at max_relations (_extract)
            fact = facts[rel.fact] if rel.fact is not None and rel.fact < len(facts) else None
            if rel.fact is None:  # the fact naming both ends as words ("Al" is not in "Alice")
                ends = [re.compile(rf"(?<!\w){re.escape(e)}(?!\w)", re.I) for e in (rel.source, rel.target)]
                named = next((f for f in facts if all(e.search(f.text) for e in ends)), None)
                fact = named if named is not None and named.memory_id else None  # else: the episode
            memory_id = fact.memory_id if fact is not None else fallback
            if memory_id is None:
                tied = f' (fact "{clipped(fact.text)}")' if fact is not None else ""
                unasserted.append(f"{rel.source} {rel.relation} {rel.target}{tied}")
                continue
            # the owner of the memory asserting it: a shared fact's relation is every agent's
            owner = fact.owner if fact is not None and fact.owner is not None else scope
            owner = stored_as.get(memory_id, owner) if fact is not None else owner
            work.changes.graph_add.append(
                RelationDraft(
                    source=rel.source,
                    source_type=rel.source_type,
                    relation=rel.relation,
                    target=rel.target,
                    target_type=rel.target_type,
                    memory_id=memory_id,
                    scope=Scope(owner.user_id, owner.agent_id, data.scope.run_id),
                    valid_from=(fact.when if fact is not None else None) or said,
                )
            )
        return unasserted


def _told(work: _Work, history: int, results: int, *, not_applied: str | None = None, **models: Any) -> None:
    """What one fact's decision wrote (its history entries from ``history`` on, its result from
    ``results`` on) says which LLM targets it follows (``models``: ``extracted_by``, ``decided_by``;
    the actor names the caller, never the model) and what of the model's was ``not_applied``."""
    details: dict[str, Any] = {k: v for k, v in models.items() if v is not None}
    if not_applied is not None:
        details["not_applied"] = not_applied
        work.results[results:] = [
            replace(r, reason=f"{r.reason}; {not_applied}" if r.reason else not_applied)
            for r in work.results[results:]
        ]
    drafts = work.changes.history
    drafts[history:] = [replace(h, details={**h.details, **details}) for h in drafts[history:]]


def _one_upsert_each(changes: ChangeSet) -> None:
    """Two upserts of one memory in a change set: the last would silently undo the other at the
    commit (a NOOP's new source lost to an UPDATE). A defect, raised rather than committed."""
    seen: set[str] = set()
    for u in changes.upserts:
        if u.memory.id in seen:
            raise RuntimeError(f"two changes of memory {u.memory.id} staged in one add")
        seen.add(u.memory.id)


def _theirs(
    text: str, kind: MemoryKind, meta: dict[str, Any], speakers: list[str | None]
) -> tuple[str, MemoryKind, dict[str, Any]]:
    """An extracted fact as stored: a profile entry or preference whose source turns are all
    another speaker's (``speakers``: each source's speaker if not the user, else None) is a fact
    about that speaker (:mod:`memoryd.ingest.speakers`: its text naming them, ``metadata.subject``,
    no ``attribute``): never the user's profile, nor on the user's timeline of homes."""
    if kind is MemoryKind.FACT or not speakers or None in speakers:
        return text, kind, meta
    subject = subject_of(text, list(dict.fromkeys(s for s in speakers if s is not None)))
    meta = {k: v for k, v in meta.items() if k not in ("attribute", "preference")}
    meta.update(about="user", subject=subject)  # about a person (not how the assistant answers)
    return naming(text, subject), MemoryKind.FACT, meta


def _someone_elses(fact: _Fact, memory: MemoryRecord) -> bool:
    """Whether ``memory`` is about another person than ``fact`` (:func:`~memoryd.ingest.speakers.whose`)."""
    return someone_else(whose(fact.kind, fact.meta), whose(memory.kind, memory.metadata))


def _said(fact: _Fact, now: datetime) -> tuple[datetime, int, int]:
    """When ``fact`` was said, to order two facts of one add: its time, then its message, then its
    place in the extraction."""
    return fact.when or now, fact.at, fact.index


def _ends(event: str, m: MemoryRecord) -> bool:
    """Whether a decision ``event`` of ``m`` ends it (an UPDATE of a home is applied as its end)."""
    return event in ("SUPERSEDE", "DELETE") or (event == "UPDATE" and _single_valued(m))


def _single_valued(m: MemoryRecord) -> bool:
    """A profile entry of an attribute a person has one of at a time (name, home, workplace)."""
    return m.kind is MemoryKind.PROFILE and m.metadata.get("attribute") in SINGLE_VALUED


def _windows(new: list[NewMessage], max_chars: int) -> list[tuple[int, list[NewMessage]]]:
    """``new`` cut into runs of consecutive messages whose text fits ``max_chars``; a message
    longer than a prompt shows one (:data:`MAX_PROMPT_MESSAGE_CHARS`) in pieces, a window each
    (the prompt cut it there: what came after was never extracted, and nothing said so). Each run
    with the position of its first message."""
    out: list[tuple[int, list[NewMessage]]] = []
    size = 0
    for i, n in enumerate(new):
        text = n.message.content
        if len(text) > MAX_PROMPT_MESSAGE_CHARS:
            pieces = _pieces(text, MAX_PROMPT_MESSAGE_CHARS)
            out += [(i, [replace(n, message=replace(n.message, content=p))]) for p in pieces]
            size = max_chars + 1  # the next message starts a window of its own
            continue
        if not out or size + len(text) > max_chars:
            out.append((i, []))
            size = 0
        out[-1][1].append(n)
        size += len(text)
    return out


def _pieces(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, each cut after a space where one is in
    its second half."""
    out: list[str] = []
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit) + 1 or limit
        out.append(text[:cut])
        text = text[cut:]
    return [*out, text] if text else out


def _result(
    event: Event, fact: _Fact, memory_id: str | None, reason: str | None, previous: str | None = None
) -> AddResult:
    return AddResult(
        event,
        fact.index,
        memory_id,
        fact.text,
        reason=reason,
        kind=fact.kind.value,
        previous=previous,
        sources=tuple(fact.sources),
    )
