"""Whose self-statements fast mode's rules and fine mode's extraction read: the user's, or another
named speaker's.

A message may name its speaker (``name``, stored as the turn's ``actor``). "I live in Paris" said
by Melanie in a conversation stored for Caroline is Melanie's home, not the user's. Only plain
evidence makes a speaker someone else; without any, a turn is the user's (as before speakers were
read). Names are compared normalised: case and spacing ignored, ``_``, ``-`` and ``.`` read as
spaces ("ana_lima" is "Ana Lima"). A user turn is:

1. the user's when it names no speaker, or the ``user_id``, or a name the user is known by;
2. another person's when it names someone else and the user is known by a name: the names the
   user's current ``name`` profile states, and the ``user_id`` when it reads as a name (letters
   only, not a word such as "user" or "id": "caroline-id" is "Caroline", "u-42" and "conv-26"
   name no one). A first name alone is a known name's ("Ana" is "Ana Lima", "Caroline Smith" is
   "caroline-id") unless a known name goes on otherwise ("Ana Maria" is not "Ana Lima");
3. another person's when, no name being known, the add or the stored user turns of its session
   (``run_id``) hold a user turn naming no speaker: an app that names its user names each of
   their messages. A stored turn whose text is edited is read with its session's turns (with
   the turns stored with it when it has no session);
4. another person's when, no name being known, the add or its session's stored user turns name
   another speaker: with two names and none known, whose turns are the user's is unknown, so
   none writes the user's profile;
5. the user's otherwise: one speaker named and nothing else known, as an app that puts the user's
   display name in ``name`` with an opaque ``user_id``.

What one add decided does not outlast it: a speaker taken as the user is not known by name
afterwards (only the profile's stated name is), so a lone first message of a group chat does not
make its speaker the user for good.

Another speaker's statements become facts about that speaker, never the user's profile or
preferences: "Melanie lives in Paris." (kind ``fact``, ``metadata.subject`` = "Melanie", the
turn as source), so that "where does Melanie live?" finds it; the turn is stored as always. They
have a timeline per person, as the user's homes do (:mod:`memoryd.ingest.subjects`): a later
"Melanie lives in Rome." supersedes it, never another person's. What another speaker asks of the
assistant (feedback rules) is not the user's wish: left out.

Fine mode (:mod:`memoryd.ingest.fine`) asks the same question of the turns an extracted profile
entry or preference came from (:func:`other_speakers`): when every one of them is another
speaker's, the entry is a fact about that speaker as above (its text naming them, no
``attribute``), never on the user's timeline of homes nor in the context's profile or
preferences; an entry the user's turns stated too stays the user's. Reconciliation never lets a
statement about one person update, supersede, delete or restate a memory about another
(:func:`whose`, :func:`someone_else`).

The duplicate check of an add (:mod:`memoryd.ingest.fast`, :func:`user_speakers`) reads the user
as one speaker: the same words said with no name, the ``user_id`` or a name the user is known by
(1 and 2) are one turn said again; other speakers stay one each, looked up only when the same
words come with two names.

Lookups are bounded and made only when a turn that states something names a speaker who is not
plainly the user (no name, or the ``user_id``): the user's ``name`` profile entries (at most
:data:`_PROFILE_CAP`) and the last :data:`_RUN_TURNS` user turns of the session.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from memoryd.filters import And, Cond, Filter
from memoryd.ingest.derived import owner_scope
from memoryd.ingest.inputs import AddInput
from memoryd.ingest.leaving import LEFT
from memoryd.ingest.rules import RuleMemory, draft_all_rules, draft_rule_memories
from memoryd.models import MemoryKind, MemoryRecord, Scope, content_hash
from memoryd.models import speaker_key as name_key  # a speaker's name as compared

__all__ = [
    "USER",
    "attributed",
    "draft_rules",
    "is_user",
    "name_key",
    "named_as_user",
    "naming",
    "other_speakers",
    "someone_else",
    "speaks_as_user",
    "stated_name",
    "subject_of",
    "user_speakers",
    "whose",
]

_PROFILE_CAP = 50  # current ``name`` profile entries read for the names the user is known by
_RUN_TURNS = 50  # stored user turns of the session read for the speakers they name
# The name a profile memory states: "The user's name is Ana Lima.", "用户叫安娜。", "名字是安娜"
_NAME_IN = re.compile(r"(?:\bname is|叫|名字是)\s*(?P<n>[^.。]+?)\s*[.。]?$", re.I)
_NAMES: Filter = And((Cond("kind", "eq", MemoryKind.PROFILE.value), Cond("metadata.attribute", "eq", "name")))
_USER_TURNS: Filter = And((Cond("kind", "eq", MemoryKind.EPISODE.value), Cond("role", "eq", "user")))
# words of a user_id that name no one ("caroline-id" is Caroline, "user_ana" is Ana)
_NO_NAME = frozenset(
    "user users usr uid id ids account acct member customer client guest anon anonymous test tester "
    "demo default admin me person people profile player visitor tenant conv conversation chat session "
    "thread sample the".split()
)


def _same_person(a: str, b: str) -> bool:
    """Whether two name keys may name the same person: equal, or one the first words of the other
    ("ana" may be "ana lima")."""
    if not a or not b:
        return False
    short, long = sorted((a.split(), b.split()), key=len)
    return long[: len(short)] == short


def stated_name(memory: MemoryRecord) -> str | None:
    """The name a ``name`` profile entry states ("The user's name is Ana Lima.": "Ana Lima"), or
    None for any other memory (or one whose text says no name)."""
    if memory.kind is not MemoryKind.PROFILE or memory.metadata.get("attribute") != "name":
        return None
    said = _NAME_IN.search(memory.text)
    return None if said is None else said["n"]


def _is_named(me: str, name: str) -> bool:
    """Whether name key ``me`` is exactly ``name`` (spacing aside: "analima" is "ana lima")."""
    return me.replace(" ", "") == name.replace(" ", "")


def _id_name(user_id: str | None) -> str | None:
    """The name a ``user_id`` reads as (a name key), or None for an id that names no one: its
    words (before an ``@``) letters only, none a digit, less the words no name is ("caroline-id"
    is "caroline"; "u-42", "conv-26", "user", a UUID are None)."""
    words = name_key((user_id or "").split("@")[0]).split()
    if not words or any(not w.isalpha() for w in words):
        return None
    named = [w for w in words if len(w) > 1 and w not in _NO_NAME]
    return " ".join(named) or None


def _known_as(me: str, names: Sequence[str]) -> bool:
    """Whether name key ``me`` is a name the user is known by (``names``: keys): equal to one, or
    its first words or it theirs, while no known name of the same first word goes on otherwise
    ("ana" and "ana lima" are "ana lima"; "ana maria" is not, nor is it "ana" when "ana lima" is
    known too)."""
    if any(_is_named(me, n) for n in names):
        return True
    first = [n for n in names if n.split()[0] == me.split()[0]]
    return bool(first) and all(_same_person(me, n) for n in first)


def is_user(
    actor: str | None,
    *,
    user_id: str | None,
    known: Iterable[str],
    add_named: set[str],
    add_unnamed: bool,
    run_named: set[str],
    run_unnamed: bool = False,
) -> bool:
    """Whether a user turn said by ``actor`` speaks as the user (the module doc's rule; pure).
    ``known``: the names the user's ``name`` profile states; ``add_named``: the name keys of the
    add's user turns; ``add_unnamed``: whether one names none; ``run_named``, ``run_unnamed``: the
    same of the session's stored user turns (or of the turns stored with a re-read one)."""
    me = name_key(actor)
    if not me or _is_named(me, name_key(user_id)):  # 1: no name, or the user_id
        return True
    names = [k for k in (name_key(n) for n in known) if k]
    if (handle := _id_name(user_id)) is not None:
        names.append(handle)
    if names:  # 1, 2: a known name, or someone else
        return _known_as(me, names)
    if add_unnamed or run_unnamed:  # 3: the user's turns name no one
        return False
    # 4: another speaker named and none known; 5: the only speaker
    return all(_same_person(me, k) for k in add_named | run_named)


def speaks_as_user(episode: MemoryRecord) -> bool:
    """Whether a turn plainly speaks as the user, with nothing to look up: not a user turn, or no
    speaker named, or the ``user_id`` named."""
    if episode.role not in (None, "user") or not name_key(episode.actor):
        return True
    return _is_named(name_key(episode.actor), name_key(episode.user_id))


_ON_LINE = frozenset({LEFT, "favourite"})  # what a rule wrote that places a fact on its subject's timeline


async def user_speakers(
    records: Any, data: AddInput, existing: Mapping[tuple[str, str | None, str | None], str]
) -> set[str]:
    """The speakers (name keys) of an add's user turns and of the stored turns ``existing`` (a
    ``find_duplicates`` answer) that are the user, for the duplicate check (:mod:`memoryd.ingest.fast`):
    no name, the ``user_id``, or a name the user is known by (:func:`is_user`'s 1 and 2), so that
    the user's words said again under another of the user's names are a NOOP. Looks the known
    names up only when the same words of the user's role come with two speakers, one of them not
    plainly the user."""
    user_id = data.scope.user_id
    mine = [(m, name_key(m.name)) for m in data.messages if m.role in (None, "user")]
    keys = {k for _, k in mine} | {name_key(a) for _, role, a in existing if role in (None, "user")}
    users = {k for k in keys if not k or _is_named(k, name_key(user_id))}  # plainly the user
    if users == keys:
        return users  # no other name said: nothing to look up, no text to compare
    said: dict[tuple[str, str | None], set[str]] = {}
    for digest, role, actor in existing:
        if role in (None, "user"):
            said.setdefault((digest, role), set()).add(name_key(actor))
    for msg, key in mine:
        said.setdefault((content_hash(msg.content), msg.role), set()).add(key)
    unsure = {k for ks in said.values() if len(ks) > 1 for k in ks - users}
    if unsure:
        known = await _known_names(records, data.scope)
        users |= {k for k in unsure if named_as_user(k, user_id=user_id, known=known)}
    return users


def named_as_user(actor: str | None, *, user_id: str | None, known: Iterable[str]) -> bool:
    """Whether a user turn said by ``actor`` is the user's by its name alone, beside a turn of the
    user's that names no one (:func:`is_user`'s 1 and 2): no name, the ``user_id``, or one of the
    names ``known`` (what the user's ``name`` profile states). The duplicate checks ask this: an
    add's (:func:`user_speakers`) and the context's."""
    return is_user(actor, user_id=user_id, known=known, add_named=set(), add_unnamed=True, run_named=set())


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
    # the add's metadata (and source_run_id) stay; what the rule said of the user does not, but the
    # place an end names and a favourite's category: their timelines (memoryd.ingest.subjects)
    ruled = draft.statement.metadata
    kept = {k: v for k, v in draft.memory.metadata.items() if k not in ruled or k in _ON_LINE}
    metadata = {**kept, "subject": speaker, "rule": draft.statement.rule}
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


async def draft_rules(records: Any, turns: Sequence[MemoryRecord], now: datetime) -> list[RuleMemory]:
    """Fast-mode rule drafts (:func:`~memoryd.ingest.rules.draft_all_rules`) of an add's turns (new
    ones and those said again, in the order said), each turn's speaker checked: another speaker's
    statements as facts about them (see the module doc). One lookup, made only when a turn that
    states something names a speaker that is not plainly the user."""
    drafts = draft_all_rules(turns, now)
    asked = {d.episode_id for d in drafts}
    # one draft per distinct text: a turn repeating what one before it stated drafted nothing, yet
    # it states it too ("I love hiking" said by Caroline, then by Melanie: Melanie's liking)
    unsure = [e for e in turns if e.id not in asked and not speaks_as_user(e)]
    asked |= {e.id for e in unsure if draft_all_rules([e], now)}
    others = await other_speakers(records, turns, asked)
    return _by_speaker(turns, drafts, others, now)


def _by_speaker(
    turns: Sequence[MemoryRecord], drafts: list[RuleMemory], others: Mapping[str, str], now: datetime
) -> list[RuleMemory]:
    """``drafts`` (of ``turns``) with the statements of the turns in ``others`` (turn id -> its
    speaker, not the user) drafted as facts about their speaker instead."""
    if not any(e.id in others for e in turns):
        return drafts
    # drafted again without the others' turns: a statement both made is the user's too
    out = draft_all_rules([e for e in turns if e.id not in others], now)
    by_speaker: dict[str, list[MemoryRecord]] = {}
    for e in turns:
        if e.id in others:
            by_speaker.setdefault(others[e.id], []).append(e)
    for speaker, theirs in by_speaker.items():
        out += [a for d in draft_rule_memories(theirs, now) if (a := attributed(d, speaker)) is not None]
    return out


async def other_speakers(
    records: Any, episodes: Sequence[MemoryRecord], asked: Collection[str]
) -> dict[str, str]:
    """The turns among ``asked`` (ids of ``episodes``: an add's new turns, of one scope, or a
    stored turn whose text changed) said by a named speaker who is not the user (the module doc's
    rule, :func:`is_user`): each turn's id -> that speaker's name. Fast mode's rules and fine
    mode's extraction both ask. Looks up only when a turn asked about names a speaker that is not
    plainly the user."""
    turns = [e for e in episodes if e.kind is MemoryKind.EPISODE]
    unsure = [e for e in turns if e.id in asked and not speaks_as_user(e)]
    if not unsure:
        return {}
    said_by_user = [e for e in turns if e.role in (None, "user")]
    add_named = {k for e in said_by_user if (k := name_key(e.actor))}
    add_unnamed = any(not name_key(e.actor) for e in said_by_user)
    known = await _known_names(records, unsure[0].scope)
    stored = await _stored_speakers(records, unsure, {e.id for e in episodes})
    others: dict[str, str] = {}  # turn id -> its speaker, not the user
    for e in unsure:
        named, unnamed = stored.get(_context(e), (set(), False))
        if not is_user(e.actor, user_id=e.user_id, known=known, add_named=add_named,
                       add_unnamed=add_unnamed, run_named=named, run_unnamed=unnamed):  # fmt: skip
            others[e.id] = str(e.actor)
    return others


async def _known_names(records: Any, scope: Scope) -> list[str]:
    """The names the user (or the owner of ``scope``) is known by, as the writer of ``scope`` reads
    its profile (a user's shared memories and the writer agent's own): the names its current
    ``name`` profile entries state. Not who said them: a speaker taken as the user in one add for
    want of anything else known (the module doc's 5) is not known by name after it."""
    owner = owner_scope(scope)
    writer = owner.agent_id
    if owner.user_id is not None:
        owner = Scope(user_id=owner.user_id)
    ids = await records.select_ids(owner, _mine(owner, _NAMES), cap=_PROFILE_CAP)
    return [
        name for m in (await records.get_many(ids, shared=True)).values()
        if (m.agent_id is None or m.agent_id == writer) and (name := stated_name(m)) is not None
    ]  # fmt: skip


def _mine(owner: Scope, where: Filter) -> Filter:
    """``where`` within what ``owner`` holds itself: an agent (or session) of no user, not its users'."""
    return where if owner.user_id is not None else And((where, Cond("user_id", "eq", None)))


def _context(turn: MemoryRecord) -> tuple[Scope, float | None]:
    """Which stored turns a turn is read with: its session's (``run_id``); a stored turn of no
    session whose text changed, the turns stored with it (its add: the same ``created_at``);
    else none (an add's turns are all in the add)."""
    if turn.run_id is not None:
        return turn.scope, None
    return turn.scope, turn.created_at.timestamp() if turn.updated_at != turn.created_at else None


async def _stored_speakers(
    records: Any, turns: Sequence[MemoryRecord], leave: set[str]
) -> dict[tuple[Scope, float | None], tuple[set[str], bool]]:
    """For each :func:`_context` of ``turns``: the name keys of the speakers of its stored user
    turns (at most :data:`_RUN_TURNS`, the last) and whether one names none; those in ``leave``
    (the add's own) left out."""
    out: dict[tuple[Scope, float | None], tuple[set[str], bool]] = {}
    for scope, at in {_context(e) for e in turns}:
        if scope.run_id is None and at is None:
            continue
        where = _mine(scope, _USER_TURNS)
        if at is not None:  # the same instant, to the millisecond
            where = And((where, Cond("created_at", "gte", at - 0.001), Cond("created_at", "lte", at + 0.001)))
        stored = [t for t in await records.latest(scope, where, limit=_RUN_TURNS) if t.id not in leave]
        keys = [name_key(t.actor) for t in stored]
        out[(scope, at)] = ({k for k in keys if k}, not all(keys))
    return out
