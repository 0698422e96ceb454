"""Whose self-statements fast mode's rules and fine mode's extraction read: the user's, or another
named speaker's.

A message may name its speaker (``name``, stored as the turn's ``actor``). "I live in Paris" said
by Melanie in a conversation stored for Caroline is Melanie's home, not the user's. A user turn's
statements are the user's when its speaker is the user:

- it names no speaker, or a name that is the user's ``user_id`` or a name the user is known by
  (a name in the user's current ``name`` profile, or the speaker of a turn the rules, or fine
  mode's extraction, already read the user's profile from; case ignored, "Ana" is "Ana Lima" too);
- or, when no such name is known, it is the only speaker named in the add's user turns, no user
  turn of the add names none, and the stored user turns of its session (``run_id``) name no one
  else: an app that puts the user's display name in ``name`` keeps its profile.

Any other speaker's statements become facts about that speaker, never the user's profile or
preferences: "Melanie lives in Paris." (kind ``fact``, ``metadata.subject`` = "Melanie", the
turn as source), so that "where does Melanie live?" finds it; the turn is stored as always. What
another speaker asks of the assistant (feedback rules) is not the user's wish: left out.

Fine mode (:mod:`memoryd.ingest.fine`) asks the same question of the turns an extracted profile
entry or preference came from (:func:`other_speakers`): when every one of them is another
speaker's, the entry is a fact about that speaker as above (its text naming them, no
``attribute``), never on the user's timeline of homes nor in the context's profile or
preferences; an entry the user's turns stated too stays the user's. Reconciliation never lets a
statement about one person update, supersede, delete or restate a memory about another
(:func:`whose`, :func:`someone_else`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from memoryd.filters import And, Cond, Filter
from memoryd.ingest.derived import owner_scope
from memoryd.ingest.rules import RuleMemory, draft_all_rules, draft_rule_memories
from memoryd.models import MemoryKind, MemoryRecord, Scope, content_hash

__all__ = [
    "USER",
    "attributed",
    "draft_rules",
    "is_user",
    "name_key",
    "naming",
    "other_speakers",
    "someone_else",
    "speaks_as_user",
    "subject_of",
    "whose",
]

_PROFILE_CAP = 200  # current profile memories read for the names the user is known by
_RUN_TURNS = 50  # stored user turns of the session read for the speakers they name
# The name a profile memory states: "The user's name is Ana Lima.", "用户叫安娜。", "名字是安娜"
_NAME_IN = re.compile(r"(?:\bname is|叫|名字是)\s*(?P<n>[^.。]+?)\s*[.。]?$", re.I)
_PROFILE: Filter = Cond("kind", "eq", MemoryKind.PROFILE.value)
_USER_TURNS: Filter = And((Cond("kind", "eq", MemoryKind.EPISODE.value), Cond("role", "eq", "user")))


def name_key(name: str | None) -> str:
    """A speaker's name as compared: case and spacing ignored."""
    return " ".join((name or "").split()).casefold()


def _same_person(a: str, b: str) -> bool:
    """Whether two name keys name the same person: equal, or one the first words of the other
    ("ana" is "ana lima")."""
    if not a or not b:
        return False
    short, long = sorted((a.split(), b.split()), key=len)
    return long[: len(short)] == short


def is_user(
    actor: str | None,
    *,
    user_id: str | None,
    known: Iterable[str],
    add_named: set[str],
    add_unnamed: bool,
    run_named: set[str],
) -> bool:
    """Whether a user turn said by ``actor`` speaks as the user (the module doc's rule; pure).
    ``known``: the names the user is known by (profile name, speakers of the profile's turns);
    ``add_named``: the name keys of the add's user turns; ``add_unnamed``: whether one names
    none; ``run_named``: the name keys of the session's stored user turns."""
    if actor is None:
        return True
    me = name_key(actor)
    known_keys = [k for k in (name_key(n) for n in known) if k]
    if _same_person(me, name_key(user_id)) or any(_same_person(me, k) for k in known_keys):
        return True
    if known_keys:  # the user is known by another name
        return False
    return add_named == {me} and not add_unnamed and run_named <= {me}


def speaks_as_user(episode: MemoryRecord) -> bool:
    """Whether a turn plainly speaks as the user, with nothing to look up: not a user turn, or no
    speaker named, or the ``user_id`` named."""
    if episode.role not in (None, "user") or episode.actor is None:
        return True
    return _same_person(name_key(episode.actor), name_key(episode.user_id))


def attributed(draft: RuleMemory, speaker: str) -> RuleMemory | None:
    """A rule draft of another speaker's turn as a fact about them ("The user lives in Paris." said
    by Melanie: "Melanie lives in Paris."); None for what says nothing about them (their own name
    again) or a form the rules do not write."""
    text = draft.memory.text
    if draft.statement.rule == "name":
        said = _NAME_IN.search(text)
        if said is None or _same_person(name_key(said["n"]), name_key(speaker)):
            return None
    named = _renamed(text, speaker)
    if named is None:
        return None
    text = named
    metadata = {"subject": speaker, "rule": draft.statement.rule}
    if "source_run_id" in draft.memory.metadata:
        metadata["source_run_id"] = draft.memory.metadata["source_run_id"]
    memory = draft.memory.with_changes(
        text=text, kind=MemoryKind.FACT, metadata=metadata, hash=content_hash(text)
    )
    statement = replace(draft.statement, text=text, kind=MemoryKind.FACT, metadata=metadata)
    return RuleMemory(memory, statement, draft.episode_id)


def _renamed(text: str, speaker: str) -> str | None:
    """``text`` naming ``speaker`` where it says "The user" ("用户"); None if it begins otherwise."""
    for user in ("The user", "用户"):
        if text.startswith(user):
            return speaker + text[len(user) :]
    return None


def naming(text: str, speaker: str) -> str:
    """A statement of ``speaker``'s turns naming them: "The user lives in Paris." as "Melanie lives
    in Paris." (a model told to name the speaker may still say "The user"); else as it is."""
    return _renamed(text, speaker) or text


def subject_of(text: str, speakers: Sequence[str]) -> str:
    """Whom a statement of the turns of ``speakers`` (others than the user, in the order their
    turns are cited) is about: the one its text names first, else the first."""
    named = [
        (m.start(), s) for s in speakers if (m := re.search(rf"(?<!\w){re.escape(s)}(?!\w)", text, re.I))
    ]
    return min(named)[1] if named else speakers[0]


USER = "\x00user"  # :func:`whose` of what is the user's


def whose(kind: MemoryKind, metadata: Mapping[str, Any]) -> str | None:
    """Whom a memory is about, as reconciliation compares two: another speaker's name key (the
    ``metadata.subject`` of a statement of theirs), :data:`USER` for a profile entry or a
    preference (the user's: another speaker's are facts about them), None for a fact that does
    not say (anyone's: "Melanie moved to Rome" said by the user may end Melanie's home)."""
    subject = metadata.get("subject")
    if isinstance(subject, str) and name_key(subject):
        return name_key(subject)
    return USER if kind in (MemoryKind.PROFILE, MemoryKind.PREFERENCE) else None


def someone_else(a: str | None, b: str | None) -> bool:
    """Whether two :func:`whose` say the memories are about two people: neither may then
    update, supersede, delete or restate the other ("Melanie lives in Paris." must not end the
    user's home, nor the user's home be "already known" as Melanie's)."""
    if a is None or b is None:
        return False
    if USER in (a, b):
        return a != b
    return not _same_person(a, b)


async def draft_rules(records: Any, episodes: Sequence[MemoryRecord], now: datetime) -> list[RuleMemory]:
    """Fast-mode rule drafts of new turns (:func:`~memoryd.ingest.rules.draft_all_rules`), each
    turn's speaker checked: another speaker's statements as facts about them (see the module
    doc). Looks the user's names up only when a turn that states something names a speaker that
    is not plainly the user."""
    drafts = draft_all_rules(episodes, now)
    others = await other_speakers(records, episodes, {d.episode_id for d in drafts})
    if not others:
        return drafts
    # drafted again without the others' turns: a statement both made is the user's too
    out = draft_all_rules([e for e in episodes if e.id not in others], now)
    by_speaker: dict[str, list[MemoryRecord]] = {}
    for e in episodes:
        if e.id in others:
            by_speaker.setdefault(others[e.id], []).append(e)
    for speaker, theirs in by_speaker.items():
        out += [a for d in draft_rule_memories(theirs, now) if (a := attributed(d, speaker)) is not None]
    return out


async def other_speakers(
    records: Any, episodes: Sequence[MemoryRecord], asked: Collection[str]
) -> dict[str, str]:
    """The turns among ``asked`` (ids of ``episodes``: an add's new turns, of one scope) said by a
    named speaker who is not the user (the module doc's rule, :func:`is_user`): each turn's id ->
    that speaker's name. Fast mode's rules and fine mode's extraction both ask. Looks the user's
    names up only when a turn asked about names a speaker that is not plainly the user."""
    turns = [e for e in episodes if e.kind is MemoryKind.EPISODE]
    unsure = [e for e in turns if e.id in asked and not speaks_as_user(e)]
    if not unsure:
        return {}
    said_by_user = [e for e in turns if e.role in (None, "user")]
    add_named = {name_key(e.actor) for e in said_by_user if e.actor is not None}
    add_unnamed = any(e.actor is None for e in said_by_user)
    known = await _known_names(records, unsure[0].scope)
    run_named = await _run_speakers(records, unsure, {e.id for e in episodes})
    others: dict[str, str] = {}  # turn id -> its speaker, not the user
    for e in unsure:
        who = run_named.get(e.scope, set())
        if not is_user(e.actor, user_id=e.user_id, known=known, add_named=add_named,
                       add_unnamed=add_unnamed, run_named=who):  # fmt: skip
            others[e.id] = str(e.actor)
    return others


async def _known_names(records: Any, scope: Scope) -> list[str]:
    """The names the user (or the owner of ``scope``) is known by, as the writer of ``scope`` reads
    its profile (a user's shared memories and the writer agent's own): the names its current
    ``name`` profile states, the speakers of the turns the rules read its profile from, and the
    speaker of the turns fine mode extracted a profile entry from when they are one named
    speaker's (an entry the user stated with another names neither)."""
    owner = owner_scope(scope)
    writer = owner.agent_id
    if owner.user_id is not None:
        owner = Scope(user_id=owner.user_id)
    ids = await records.select_ids(owner, _mine(owner, _PROFILE), cap=_PROFILE_CAP)
    profile = [
        m for m in (await records.get_many(ids, shared=True)).values()
        if m.agent_id is None or m.agent_id == writer
    ]  # fmt: skip
    names: list[str] = []
    for m in profile:
        if m.metadata.get("attribute") == "name" and (said := _NAME_IN.search(m.text)) is not None:
            names.append(said["n"])
    ruled = {s for m in profile if "rule" in m.metadata for s in m.source_ids}
    extracted = [m for m in profile if "rule" not in m.metadata]
    sources = ruled.union(*(m.source_ids for m in extracted))
    turns = await records.get_many(list(sources), shared=True) if sources else {}
    users = {i: t for i, t in turns.items() if t.role in (None, "user")}
    names += [t.actor for i, t in users.items() if i in ruled and t.actor is not None]
    for m in extracted:
        theirs = [users[s] for s in m.source_ids if s in users]
        if theirs and all(t.actor for t in theirs) and len({name_key(t.actor) for t in theirs}) == 1:
            names.append(str(theirs[0].actor))
    return names


def _mine(owner: Scope, where: Filter) -> Filter:
    """``where`` within what ``owner`` holds itself: an agent (or session) of no user, not its users'."""
    return where if owner.user_id is not None else And((where, Cond("user_id", "eq", None)))


async def _run_speakers(
    records: Any, turns: Sequence[MemoryRecord], leave: set[str]
) -> dict[Scope, set[str]]:
    """The name keys of the speakers of the last stored user turns of each session of ``turns``,
    by its scope (those in ``leave`` left out: the add's own)."""
    out: dict[Scope, set[str]] = {}
    for scope in {e.scope for e in turns if e.run_id is not None}:
        stored = await records.latest(scope, _mine(scope, _USER_TURNS), limit=_RUN_TURNS)
        out[scope] = {name_key(t.actor) for t in stored if t.actor is not None and t.id not in leave}
    return out
