"""The timelines of what fast mode's rules state: one home, workplace and name at a time, one
stance per taste, one favourite per category, per owner and per person spoken of.

:func:`settle_profile` lays the rule memories of an add out on their timelines with what is stored
(a later statement ends the earlier: kept ended, ``SUPERSEDE`` in its history, found with
``as_of``; one told late is added already ended, as is one said before a stored one is stated
again; a shared one and an agent's own as their readers read them); :func:`reopen_profile`
undoes what a deleted or edited statement ended; :func:`said_anew` finds, within one add, what
is said again after what ended it. Which timeline a memory is on: :func:`timeline_of` (a profile
attribute, a taste's thing (:mod:`memoryd.ingest.preferences`), a favourite's category
(:mod:`memoryd.ingest.phrasings`), another speaker's (:mod:`memoryd.ingest.subjects`), a lesson's
topic (:mod:`memoryd.ingest.lessons`)). The
statements themselves are read by :mod:`memoryd.ingest.rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from memoryd.ingest import phrasings
from memoryd.ingest.leaving import LEFT, ends
from memoryd.ingest.lessons import lesson_line, lesson_where
from memoryd.ingest.preferences import replaces, taste_hashes, taste_line
from memoryd.ingest.subjects import one_thing, subject_line, subject_where
from memoryd.models import AddResult, Event, MemoryKind, MemoryRecord, Scope
from memoryd.storage import ChangeSet, HistoryDraft, StoredMemory

__all__ = [
    "SINGLE_VALUED",
    "Home",
    "ended_after",
    "reopen_profile",
    "said_anew",
    "settle_profile",
    "timeline_of",
]


def said_anew(memories: Sequence[MemoryRecord]) -> set[int]:
    """The positions in ``memories`` (the rule memories of one add) of those said after another
    of them on their timeline that ends what they state, by when each was said, then by order
    ("I hate coffee", "I like coffee"; "I live in Paris", "I live in Rome"): stated again, anew,
    even when what they state is current (it ends there), as in a later add."""
    on: dict[Home, list[MemoryRecord]] = {}
    out: set[int] = set()
    for i in sorted(range(len(memories)), key=lambda i: (memories[i].valid_from, i)):
        m = memories[i]
        if (home := timeline_of(m)) is None:
            continue
        before = on.setdefault(_readers(home), [])
        if any(e.hash != m.hash and _ends_what(e, m) for e in before):
            out.add(i)
        before.append(m)
    return out


def _ends_what(e: MemoryRecord, m: MemoryRecord) -> bool:
    """Whether ``e``, said before ``m`` on its timeline, ends what ``m`` states: an ending
    statement only the place or thing it names ("I left Google" does not end "I work at Acme",
    said after it: Acme is no statement anew), anything else as :func:`replaces` says."""
    return _ends(e, m) if LEFT in e.metadata else replaces(e, m)


def _ends(end: MemoryRecord, before: MemoryRecord | None) -> bool:
    """Whether ``end``, an ending statement (:data:`LEFT`), ends ``before`` on its timeline: on a
    line of one thing (a diet's, an allergen's, the user's or another speaker's) the thing it is
    on, else the place it names (:func:`ends`)."""
    return ends(end, before, its_own_line=one_thing(end))


# Profile attributes a person has one of at a time: a new statement of one replaces the last.
SINGLE_VALUED = ("name", "location", "work")
Home = tuple[str | None, str | None, str]  # (user_id, agent_id, attribute or taste): one owner's timeline


def timeline_of(m: MemoryRecord) -> Home | None:
    """The timeline a profile memory of a :data:`SINGLE_VALUED` attribute is on, an explicit taste
    (its thing: :func:`~memoryd.ingest.preferences.taste_line`), a favourite, a diet or an allergy
    (:func:`~memoryd.ingest.phrasings.state_line`: "I'm no longer vegan" ends "I'm vegan"), a lesson
    of the assistant's on a topic (:func:`~memoryd.ingest.lessons.lesson_line`: "answer in English"
    ends "answer in French"); else None."""
    attribute = m.metadata.get("attribute")
    if m.kind is MemoryKind.PROFILE and attribute in SINGLE_VALUED:
        return (m.user_id, m.agent_id, str(attribute))
    # another speaker's home (memoryd.ingest.subjects), a taste, a favourite, a diet or an allergy
    # (memoryd.ingest.phrasings), a lesson's topic (memoryd.ingest.lessons: the reply language)
    line = subject_line(m) or taste_line(m) or phrasings.favourite_line(m) or phrasings.state_line(m)
    line = line or lesson_line(m)
    return None if line is None else (m.user_id, m.agent_id, line)


def _readers(home: Home) -> Home:
    """The timelines ``home`` shares readers with, as one key: every agent of a user reads the
    user's shared memories (no ``agent_id``) beside its own (:func:`agent_view`), so a user's
    are grouped by (user, attribute); an agent with no user has its own."""
    user_id, agent_id, attribute = home
    return home if user_id is None else (user_id, None, attribute)


def _sees(agent_id: str | None, m: MemoryRecord) -> bool:
    """Whether what ``agent_id`` (None: no agent) reads of its user holds ``m``: the user's shared
    memories and the agent's own, never another agent's."""
    return m.agent_id is None or m.agent_id == agent_id


async def _stored_on(
    records: Any, homes: dict[Home, Scope], leaving: set[str]
) -> dict[Home, dict[str, MemoryRecord]]:
    """The stored memories of each of ``homes``' attribute (or taste; each with the scope of a new
    memory on it), current or not, but those in ``leaving``: of a user, in every agent (shared or an
    agent's own); of an agent with no user, its own. The tastes of one owner in one exact lookup by
    the hashes of their texts (:func:`~memoryd.ingest.preferences.taste_hashes`)."""
    from memoryd.filters import parse_filter

    ids: list[str] = []
    tastes: dict[Scope, list[str]] = {}
    for (user_id, agent_id, attribute), scope in homes.items():
        owner = scope if user_id is None else Scope(user_id=user_id)
        hashes = taste_hashes(attribute)
        if hashes is not None:
            tastes.setdefault(owner, []).extend(hashes)
            continue
        mine = subject_where(attribute) or lesson_where(attribute) or phrasings.line_filter(attribute)
        mine["user_id"] = user_id
        if user_id is None:
            mine["agent_id"] = agent_id
        ids += await records.select_ids(owner, parse_filter(mine), include_expired=True, cap=1000)
    for owner, hashes in tastes.items():
        ids += await records.with_hashes(owner, hashes)
    out: dict[Home, dict[str, MemoryRecord]] = {home: {} for home in homes}
    for i, m in (await records.get_many([i for i in ids if i not in leaving])).items():
        if (on := timeline_of(m)) is not None and (line := out.get(_readers(on))) is not None:
            line[i] = m
    return out


async def settle_profile(
    records: Any, changes: ChangeSet, results: list[AddResult], now: datetime, actor: str = "rules:fast"
) -> list[AddResult]:
    """One home (name, workplace: :data:`SINGLE_VALUED`) at a time, and one stance on a thing
    (:mod:`memoryd.ingest.preferences`: a taste ends only at the opposite one, the timelines are
    otherwise a home's): the new profile memories of
    ``changes`` (those it embeds) and the stored ones with the same attribute that the writer
    reads (the user's shared ones and, for a write naming an agent, that agent's own: never
    another agent's), current or not, are laid on one timeline by when each was said; each ends
    where the next begins. A stored one that held on past that is closed there (kept: ``as_of``
    finds it; a SUPERSEDE in its history); a new one said before another ("I lived in Lisbon,
    then moved to Madrid" in one add; or history told late, older than what is stored) is added
    already ended. An end is only ever moved earlier: a gap that fine mode left stays. A stored
    one stated again word for word (a NOOP of it: the turn joins its sources, in this add or an
    earlier one) is on its timeline when said again too: one said before that (earlier in the
    add, or an older session told late) does not end it, but is kept ended where it was said
    again (its SUPERSEDE says so, and so does its result).

    Every agent of a user reads the user's shared memories, so the agents' views stay one home
    each: an agent's new one said after a shared one that was current is stored shared (as
    fine mode's SUPERSEDE of a shared memory is), and a shared new one ends each agent's own
    said before it. Returns ``results`` with the new ones as they are stored.

    A SUPERSEDE that a new memory of a model's (fine mode: its ADD in ``changes`` names the
    ``extracted_by`` target) writes names that target too; the rule decided it, no model did."""
    groups: dict[Home, list[MemoryRecord]] = {}
    for u in changes.upserts:
        if u.vector is not None and (home := timeline_of(u.memory)) is not None:
            groups.setdefault(_readers(home), []).append(u.memory)
    staged = {u.memory.id: i for i, u in enumerate(changes.upserts)}  # e.g. a source added: close that
    replaced: dict[str, MemoryRecord] = {}  # new memory id -> the stored one it ended
    leaving = {m.id for news in groups.values() for m in news} | set(changes.deletes)
    found = await _stored_on(records, {home: news[0].scope for home, news in groups.items()}, leaving)
    # as this add leaves them (a NOOP's new source), and when each was stated again since it began
    as_now = {
        i: changes.upserts[staged[i]].memory if i in staged else o
        for f in found.values()
        for i, o in f.items()
    }
    again = await _said_again(records, changes, list(as_now.values()))
    unmatched: set[str] = set()  # new ends of a home that was not the current one: not stored
    by = _extracted_by(changes)
    before = len(changes.history)
    stated_over: dict[str, MemoryRecord] = {}  # new memory id -> the stored one stated again after it
    for home, news in groups.items():
        olds = found[home]
        said = {m.hash for m in news}  # the same statement again is no change
        anew = {news[i].hash for i in said_anew(news)}  # but after its end in this add ("I hate tea")
        every = [as_now[i] for i in olds]
        stored = [o for o in every if o.hash not in said or (o.hash in anew and o.valid_to is None)]
        writer = next((m.agent_id for m in news if m.agent_id is not None), None)
        seen = [o for o in stored if _sees(writer, o)]
        line = _one_at_a_time(_laid_out(seen, news, again, staged), changes, staged)
        line = _without_unmatched_ends(line, unmatched)
        news = [m for m in news if m.id not in unmatched]
        for k, (start, is_new, _, m) in enumerate(line):
            if any(said[3].id == m.id for said in line[k + 1 :]):
                continue  # stated again later (a NOOP of it): it holds at least until then
            nxt = next((s for s in line[k + 1 :] if s[3].id != m.id and replaces(s[3], m)), None)
            if nxt is None:  # a home's: the next one
                continue
            then, new_next, _, after = nxt
            restated = not new_next and then > after.valid_from  # a stored one said again, after m
            why = f"memory {after.id} was stated again after it" if restated else None
            closed = _close(m, _end(start, then), after, changes, staged, by, actor, now, why=why)
            if closed and not is_new and new_next:
                replaced[after.id] = m
            elif closed and is_new and restated:
                stated_over[m.id] = after
        if home[0] is not None:
            _move_to_shared(_share(line, olds), changes)
            _end_agents_own(news, every, writer, changes, staged, by, actor, now)  # copies of it too
    if unmatched:
        _unstage(unmatched, changes)
        results = [r for r in results if r.id not in unmatched]
    final = {u.memory.id: u.memory for u in changes.upserts}  # as stored: ended, or said just after
    # A new one that ended a stored one says so, as fine mode's SUPERSEDE does: the text it replaced.
    out = []
    for r in ended_after(results, changes.history[before:]):
        gone = replaced.get(r.id or "")
        if gone is None:
            if (held := stated_over.get(r.id or "")) is not None:  # told, then the stored one again
                why = f"ended by memory {held.id}, stated again after it"
                r = replace(r, reason=why if r.reason is None else f"{r.reason}; {why}")
            out.append(replace(r, memory=final.get(r.id or "", r.memory)))
            continue
        why = f"supersedes memory {gone.id}"
        why = why if r.reason is None else f"{r.reason}; {why}"
        out.append(
            replace(r, memory=final[r.id or ""], event=Event.SUPERSEDE, previous=gone.text, reason=why)
        )
    return out


async def _said_again(
    records: Any, changes: ChangeSet, memories: Sequence[MemoryRecord]
) -> dict[str, list[tuple[datetime, int]]]:
    """When each of ``memories`` (stored, on a timeline) was stated again after it began: the turns
    among its sources but the first (the one that stated it) that a NOOP of it added ("I live in
    Paris" said again, in this add or a later one), said later than its start; each as (when, the
    turn's place in ``changes``' upserts, -1 for a stored one). By memory id; none, not there."""
    turns = {u.memory.id: k for k, u in enumerate(changes.upserts) if u.memory.kind is MemoryKind.EPISODE}
    wanted = {s for m in memories for s in m.source_ids[1:] if s not in turns}
    found = await records.get_many(sorted(wanted)) if wanted else {}
    out: dict[str, list[tuple[datetime, int]]] = {}
    for m in memories:
        for s in m.source_ids[1:]:
            k = turns.get(s, -1)
            turn = changes.upserts[k].memory if k >= 0 else found.get(s)
            if turn is None or turn.kind is not MemoryKind.EPISODE or turn.valid_from <= m.valid_from:
                continue
            if m.valid_to is None or m.valid_to > turn.valid_from:  # said again while it held
                out.setdefault(m.id, []).append((turn.valid_from, k))
    return out


def _laid_out(
    stored: list[MemoryRecord],
    news: list[MemoryRecord],
    again: dict[str, list[tuple[datetime, int]]],
    staged: dict[str, int],
) -> list[_Said]:
    """``stored`` and ``news`` on one timeline by when each was said (a stored one also at each time
    it was stated again: :func:`_said_again`); at the same instant what is stored (or was said
    again before this add) first, then the add's order: a statement again in this add after the
    new ones whose turns come before its turn."""
    turn_of = [max((staged[s] for s in m.source_ids if s in staged), default=None) for m in news]
    keyed: list[tuple[tuple[datetime, int, int], _Said]] = []
    for i, o in enumerate(stored):
        keyed.append(((o.valid_from, 0, i), (o.valid_from, 0, i, o)))
        for when, k in again.get(o.id, []):
            last = max((j for j, t in enumerate(turn_of) if t is not None and t < k), default=-1)
            key = (when, 0, len(stored) + i) if k < 0 else (when, 1, 2 * last + 2)
            keyed.append((key, (when, 0, key[2], o)))
    keyed += [((m.valid_from, 1, 2 * i + 1), (m.valid_from, 1, 2 * i + 1, m)) for i, m in enumerate(news)]
    return [said for _, said in sorted(keyed, key=lambda item: item[0])]


def ended_after(results: list[AddResult], history: Sequence[HistoryDraft]) -> list[AddResult]:
    """``results`` with each NOOP (a memory said again: "already known") whose memory a SUPERSEDE or
    DELETE of ``history`` (written after it, in the same add) ends saying so (once): it is not
    current."""
    ended = {h.memory_id: h.new_text for h in history if h.event in (Event.SUPERSEDE, Event.DELETE)}
    out = []
    for r in results:
        why = f'ended in this add by "{ended.get(r.id or "")}"'
        if r.event is Event.NOOP and r.id in ended and why not in (r.reason or ""):
            r = replace(r, reason=why if r.reason is None else f"{r.reason}; {why}")
        out.append(r)
    return out


def _without_unmatched_ends(line: list[_Said], unmatched: set[str]) -> list[_Said]:
    """``line`` without its new ends of a home (:mod:`memoryd.ingest.leaving`: "I no longer live in
    Milan") that do not end the one current just before them, each added to ``unmatched``."""
    out: list[_Said] = []
    for said in line:
        m = said[3]
        if said[1] and LEFT in m.metadata and not _ends(m, out[-1][3] if out else None):
            unmatched.add(m.id)
            continue
        out.append(said)
    return out


def _unstage(ids: set[str], changes: ChangeSet) -> None:
    """Take the new memories ``ids`` out of ``changes``, with their history and relations."""
    changes.upserts = [u for u in changes.upserts if u.memory.id not in ids]
    changes.history = [h for h in changes.history if h.memory_id not in ids]
    changes.graph_add = [g for g in changes.graph_add if g.memory_id not in ids]


def _extracted_by(changes: ChangeSet) -> dict[str, str]:
    """The model that extracted each new memory of ``changes`` that one did (its ADD's details)."""
    return {
        h.memory_id: h.details["extracted_by"]
        for h in changes.history
        if h.event is Event.ADD and "extracted_by" in h.details
    }


def _close(
    m: MemoryRecord,
    ends: datetime,
    after: MemoryRecord,
    changes: ChangeSet,
    staged: dict[str, int],
    by: dict[str, str],
    actor: str,
    now: datetime,
    *,
    why: str | None = None,
) -> bool:
    """End ``m`` (stored, or new in ``changes``) at ``ends``, where ``after`` begins, unless it ended
    by then already; a SUPERSEDE in its history naming ``after``'s text, and the model that extracted
    it (``by``: :func:`_extracted_by`) if one did, and ``why`` as its reason if given. Whether it
    was ended."""
    if m.valid_to is not None and m.valid_to <= ends:
        return False
    if m.id in staged:
        at = staged[m.id]
        changes.upserts[at] = replace(
            changes.upserts[at], memory=changes.upserts[at].memory.with_changes(valid_to=ends, updated_at=now)
        )
    else:
        staged[m.id] = len(changes.upserts)
        changes.upserts.append(StoredMemory(m.with_changes(valid_to=ends, updated_at=now), existing=True))
    model = {"extracted_by": by[after.id]} if after.id in by else {}
    if why is not None:
        model["reason"] = why
    changes.history.append(HistoryDraft.of(m, Event.SUPERSEDE, m.text, after.text, actor, now, **model))
    if m.id not in changes.graph_close_memories:  # what it asserted ends with it (fine mode's)
        changes.graph_close_memories.append(m.id)
    return True


def _share(line: list[_Said], olds: dict[str, MemoryRecord]) -> set[str]:
    """The new memories of an agent's write said after a home the user's agents share (current
    before this add, or new and shared): what replaces a shared home is shared too, else the
    other agents (and writes naming none) would go on reading the one it ended (a taste: one
    of the opposite stance)."""
    out: set[str] = set()
    shared: list[MemoryRecord] = []
    for _, is_new, _, m in line:
        if m.agent_id is None and (is_new or olds[m.id].valid_to is None):
            shared.append(m)
        elif is_new and any(replaces(m, s) for s in shared):
            out.add(m.id)
    return out


def _end_agents_own(
    news: list[MemoryRecord],
    stored: list[MemoryRecord],
    writer: str | None,
    changes: ChangeSet,
    staged: dict[str, int],
    by: dict[str, str],
    actor: str,
    now: datetime,
) -> None:
    """The new memories of a home ``news``, those shared (stored shared by :func:`_share`, or so
    written), are read by every agent of the user: each ends the agents' own (the writer's are on
    its line already) said before it, a copy of its own text included, so that no agent reads two
    homes."""
    shared = [m for n in news if (m := changes.upserts[staged[n.id]].memory).agent_id is None]
    shared.sort(key=lambda m: m.valid_from)
    for o in stored:
        if o.agent_id is None or o.agent_id == writer:
            continue
        later = next((m for m in shared if m.valid_from >= o.valid_from and replaces(m, o)), None)
        if later is not None:
            _close(o, _end(o.valid_from, later.valid_from), later, changes, staged, by, actor, now)


def _move_to_shared(ids: set[str], changes: ChangeSet) -> None:
    """Store the new memories ``ids`` shared by every agent of their user (no ``agent_id``), with
    their history rows and the relations drafted for them."""
    if not ids:
        return

    def shared(scope: Scope) -> Scope:
        return Scope(scope.user_id, None, scope.run_id)

    changes.upserts = [
        replace(u, memory=u.memory.with_changes(agent_id=None)) if u.memory.id in ids else u
        for u in changes.upserts
    ]
    changes.history = [
        replace(h, scope=shared(h.scope)) if h.memory_id in ids else h for h in changes.history
    ]
    changes.graph_add = [
        replace(g, scope=shared(g.scope)) if g.memory_id in ids else g for g in changes.graph_add
    ]


async def reopen_profile(
    records: Any, lost: Sequence[MemoryRecord], changes: ChangeSet, now: datetime, actor: str
) -> list[MemoryRecord]:
    """Undo what ``lost`` (profile memories ``changes`` deletes, their turn gone or edited) ended: a
    home (:data:`SINGLE_VALUED`) that one of them had superseded is current again, or holds until
    the next one still there (those ``changes`` adds included) that its readers read (a shared
    one: the next shared one; an agent's own: the next shared one or its own). Only an end that a
    lost memory's start set is moved. What such a home asserted in the graph, which ended with
    it, holds with it again (``graph_reopen_memories``). Returns the memories as they now are
    (the ``changes`` made for them: an UPDATE in their history)."""
    groups: dict[Home, list[MemoryRecord]] = {}
    for m in lost:
        if (home := timeline_of(m)) is not None:
            groups.setdefault(_readers(home), []).append(m)
    leaving = set(changes.deletes) | {m.id for m in lost}
    staged = {u.memory.id: u.memory for u in changes.upserts}
    out: list[MemoryRecord] = []
    found = await _stored_on(records, {home: dead[0].scope for home, dead in groups.items()}, leaving)
    for home, dead in groups.items():
        stored = found[home]
        news = [
            m for m in staged.values()
            if m.id not in stored and (h := timeline_of(m)) is not None and _readers(h) == home
        ]  # fmt: skip
        every = [staged.get(i, m) for i, m in stored.items()] + news
        every.sort(key=lambda m: (m.valid_from, m.id))
        for i, m in enumerate(every):
            if m.id in staged or m.valid_to is None or not any(_ended(m, d) for d in dead):
                continue
            later = every[i + 1 :]
            # the next it reads that ends it, or says it again (one current copy): None, nothing
            ends = [a for a in later if _sees(m.agent_id, a) and (replaces(a, m) or a.hash == m.hash)]
            after = ends[0] if ends else None
            end = None if after is None else _end(m.valid_from, after.valid_from)
            if end == m.valid_to:
                continue
            now_current = m.with_changes(valid_to=end, updated_at=now)
            changes.upserts.append(StoredMemory(now_current, existing=True))
            changes.graph_reopen_memories.append(m.id)  # its relations ended with it: they hold again
            why = "what superseded it was deleted" + ("" if end is None else "; a later one ends it")
            reopened = HistoryDraft.of(m, Event.UPDATE, m.text, m.text, actor, now, reason=why)
            changes.history.append(reopened)
            out.append(now_current)
    return out


def _ended(m: MemoryRecord, lost: MemoryRecord) -> bool:
    """Whether ``lost``'s start could have set ``m``'s end (:func:`_end`)."""
    assert m.valid_to is not None
    return replaces(lost, m) and m.valid_to - lost.valid_from in (timedelta(0), timedelta(microseconds=1))


_Said = tuple[datetime, int, int, MemoryRecord]  # when, 1 if new, its order, the memory


def _one_at_a_time(line: list[_Said], changes: ChangeSet, staged: dict[str, int]) -> list[_Said]:
    """``line`` with each new memory said at the same instant as the one before it (one add, one
    timestamp: "I live in Lisbon", "I live in Porto") starting a microsecond after it, in
    ``changes`` too: at that instant (``as_of``) one home holds, the first; just after, the last."""
    out: list[_Said] = []
    for start, new, order, m in line:
        if new and out and start <= out[-1][0]:
            start = out[-1][0] + timedelta(microseconds=1)
            m = m.with_changes(valid_from=start)
            changes.upserts[staged[m.id]] = replace(changes.upserts[staged[m.id]], memory=m)
        out.append((start, new, order, m))
    return out


def _end(start: datetime, then: datetime) -> datetime:
    """Where a memory said at ``start`` ends when the next is said at ``then`` (both intervals
    non-empty)."""
    return then if start < then else then + timedelta(microseconds=1)
