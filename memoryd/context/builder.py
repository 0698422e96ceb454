"""The context builder: a prompt-ready, size-bounded memory block for the next prompt.

Pure: :func:`build_context` takes the candidates that :meth:`AsyncMemory.context`
gathered (profile, preferences, relevant memories, recent turns), removes
duplicates (same id, or the same text said by the same speaker, the first source listed
wins, the user being one speaker named or not, as an add's duplicate check reads them; and a
relevant past turn that listed profile or preference items came from, unless it says more;
recent turns are a transcript: one is never dropped for repeating another's text), chooses
what fits the token budget and renders the text. Each line starts with
a short id tag (``[1a2b3c4d]``) that maps to an item's full id, so the caller
can cite or correct a memory.

What is kept when the budget is short, in order: profile items (:func:`profile_rank`: name,
home and workplace first, then the best score, then the newest), then preferences and
relevant memories ranked together (best score first) and recent turns (newest first; turns
of one add by the order given) taken alternately.
An item that does not fit whole is cut to the room left when at least :data:`MIN_ITEM_TOKENS` tokens remain.
The rendered order is sensible for a prompt: sections in the order of
:data:`SECTIONS`, relevant memories best first, the conversation oldest first.
Token counts are exact (the tokenizer splits at whitespace, so a line break
adds none and a block's count is the sum of its lines).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from memoryd.context.tokens import TOKENIZER_NAME, count_tokens, truncate_to_tokens
from memoryd.ingest.speakers import name_key, named_as_user, stated_name
from memoryd.ingest.timelines import SINGLE_VALUED
from memoryd.models import MemoryKind, MemoryRecord, SearchHit, id_tag
from memoryd.text import tokenize

__all__ = [
    "MIN_ITEM_TOKENS",
    "PROFILE",
    "PREFERENCES",
    "RECENT",
    "RELEVANT",
    "SECTIONS",
    "Candidate",
    "Context",
    "ContextItem",
    "build_context",
    "build_context_off_loop",
    "gather",
    "profile_rank",
]

PROFILE = "Profile"
PREFERENCES = "Preferences"
RELEVANT = "Relevant memories"
RECENT = "Recent conversation"
SECTIONS = (PROFILE, PREFERENCES, RELEVANT, RECENT)
MIN_ITEM_TOKENS = 8
_TAG_CHARS = 8


@dataclass(frozen=True, slots=True)
class Candidate:
    """A memory offered to the builder: which section, and how relevant (higher is better)."""

    memory: MemoryRecord
    section: str
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class ContextItem:
    """One memory included in a context: ``tag`` is the short id its line starts with; ``lead`` is
    the start of ``text`` before the memory's words, a turn's date (among the relevant memories)
    and speaker (``"(2024-05-01) Ana: "``), "" for a memory of another kind."""

    id: str
    tag: str
    kind: str
    section: str
    text: str
    score: float
    tokens: int
    truncated: bool = False
    lead: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tag": self.tag,
            "kind": self.kind,
            "section": self.section,
            "text": self.text,
            "lead": self.lead,
            "score": self.score,
            "tokens": self.tokens,
            "truncated": self.truncated,
        }


@dataclass(frozen=True, slots=True)
class Context:
    """A memory context: ``text`` to put in a prompt, its ``items``, its size and the budget."""

    text: str
    items: list[ContextItem]
    tokens: int
    budget: int
    tokenizer: str = TOKENIZER_NAME
    dropped: int = 0  # candidates left out for lack of room
    sections: dict[str, int] = field(default_factory=dict)  # items per section

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "items": [i.to_dict() for i in self.items],
            "tokens": self.tokens,
            "budget": self.budget,
            "tokenizer": self.tokenizer,
            "dropped": self.dropped,
        }


# What no line of the block may carry: control characters (NUL, a bell, an escape starting a
# terminal sequence), the bidirectional controls that reorder what a reader sees ("evil\u202eexe.txt"
# shown as "eviltxt.exe") and invisible characters (a zero-width space, a word joiner, a BOM, a soft
# hyphen). Dropped; a line break, a tab or another spacing character is one space (no stored text, and
# no speaker's name, starts a line: "## Profile" in a memory stays on its own line, after its tag).
# The joiners emoji and scripts are written with (U+200C, U+200D) are kept.
_UNSEEN = dict.fromkeys(
    c
    for c in (
        *range(0x00, 0x20), *range(0x7F, 0xA0), 0xAD, 0x061C, 0x180E, 0x200B, 0x200E, 0x200F,
        *range(0x202A, 0x202F), *range(0x2060, 0x2065), *range(0x2066, 0x206A), 0xFEFF,
        0x034F, 0x3164, 0xFFA0,  # the combining grapheme joiner, the Hangul fillers shown as blanks
    )
    if not chr(c).isspace()
)  # fmt: skip
# Unicode tag characters mirror ASCII invisibly, and a model reads them ("ASCII smuggling"): dropped,
# but in an emoji tag sequence, a subdivision flag (🏴, a region's two tag letters or three digits, a
# suffix of one to four tag letters or digits, then U+E007F): seven tags at most, no room for a message.
_TAG_ALNUM = "[\U000E0030-\U000E0039\U000E0061-\U000E007A]"
_TAGS = re.compile(
    "(\U0001F3F4(?:[\U000E0061-\U000E007A]{2}|[\U000E0030-\U000E0039]{3})"
    + _TAG_ALNUM
    + "{1,4}\U000E007F)|[\U000E0000-\U000E007F]"
)


def _clean(text: str) -> str:
    """``text`` as a line of the block shows it: on one line, no unseen character (:data:`_UNSEEN`,
    a tag character but those of a flag: :data:`_TAGS`)."""
    if not text.isascii() and max(text) >= "\U000e0000":
        text = _TAGS.sub(lambda m: m.group(1) or "", text)
    return " ".join(text.translate(_UNSEEN).split())


def _line_text(memory: MemoryRecord, section: str, tz: tzinfo = UTC) -> tuple[str, str]:
    """A line's text after its tag, as its lead (a turn's date and speaker) and the memory's words;
    a turn's date is its day in ``tz`` (the asker's time zone; a naive time is UTC)."""
    text = _clean(memory.text)
    lead = ""
    if memory.kind is MemoryKind.EPISODE:
        speaker = _clean(memory.actor or "") or memory.role
        if speaker:
            lead = f"{speaker}: " if text else f"{speaker}:"
        if section == RELEVANT and (memory.event_time or memory.created_at):
            when: datetime = memory.event_time or memory.created_at
            day = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(tz).date()
            lead = f"({day.isoformat()}) {lead}"
    return lead, text


def profile_rank(memory: MemoryRecord, score: float = 0.0) -> tuple[int, float, datetime, str]:
    """Sort key of the profile, best first (``reverse=True``): the attributes a person has one of
    (:data:`SINGLE_VALUED`: name, home, workplace, in that order) before the others, then
    relevance to the query (``score``), then the newest."""
    attribute = memory.metadata.get("attribute") if memory.kind is MemoryKind.PROFILE else None
    single = len(SINGLE_VALUED) - SINGLE_VALUED.index(attribute) if attribute in SINGLE_VALUED else 0
    return (single, score, memory.updated_at, memory.id)


def _speaker(memory: MemoryRecord) -> str | None:
    """Who a line says said it: a turn's actor or role (as :func:`_line_text` renders it)."""
    return (memory.actor or memory.role) if memory.kind is MemoryKind.EPISODE else None


_THE_USER = "\x00user"  # the speaker key of the user's own turns (no name, or one of the user's)


def _speakers(candidates: Sequence[Candidate]) -> Callable[[MemoryRecord], str | None]:
    """Who said a memory, as duplicates are compared: the user as one speaker, as an add's duplicate
    check reads them (:func:`~memoryd.ingest.speakers.user_speakers`): a user turn naming no one,
    the ``user_id`` or a name the user is known by (the names the listed ``name`` profile entries
    state) is the user's; any other named speaker is one of their own (name keys compared)."""
    # The known names a speaker is compared with are those it may be (equal, spacing aside, or of
    # its first word): what named_as_user reads of them, looked up once per name, not per speaker.
    by_first: dict[str, dict[str, str]] = {}
    by_whole: dict[str, dict[str, str]] = {}
    for c in candidates:
        if c.section == PROFILE and (n := stated_name(c.memory)) is not None and (k := name_key(n)):
            by_first.setdefault(k.split()[0], {}).setdefault(k, n)
            by_whole.setdefault(k.replace(" ", ""), {}).setdefault(k, n)
    cache: dict[tuple[str | None, str | None], bool] = {}

    def known(actor: str | None) -> list[str]:
        if not (k := name_key(actor)):
            return []
        return [*{**by_first.get(k.split()[0], {}), **by_whole.get(k.replace(" ", ""), {})}.values()]

    def key(m: MemoryRecord) -> str | None:
        speaker = _speaker(m)
        if speaker is None or m.role not in (None, "user"):
            return None if speaker is None else name_key(speaker)
        mine = cache.get((m.actor, m.user_id))
        if mine is None:
            mine = named_as_user(m.actor, user_id=m.user_id, known=known(m.actor))
            cache[(m.actor, m.user_id)] = mine
        return _THE_USER if mine else name_key(m.actor)

    return key


def _header(section: str) -> str:
    return f"## {section}"


def gather(
    recent: Sequence[MemoryRecord],
    profile: Sequence[MemoryRecord],
    assistant: Sequence[MemoryRecord],
    preferences: Sequence[SearchHit],
    hits: Sequence[SearchHit],
    *,
    max_facts: int,
    max_episodes: int,
    exclude: Collection[str] = frozenset(),
) -> list[Candidate]:
    """The candidates of a context, in the order :func:`build_context` resolves duplicates:
    the session's ``recent`` turns (newest first), the ``profile``, what the ``assistant``
    learned about answering, the best ``preferences``, then search ``hits`` — profile and
    preference hits to their sections, up to ``max_episodes`` past turns and ``max_facts``
    other memories as relevant ones, and at most ``max_facts`` profile items, preferences and
    lessons of the assistant each, whichever read found them. A profile item the hits list takes
    its hit's score. A hit already listed (same id, or same text and speaker) or that a listed
    profile or preference item came from takes no relevant slot, and neither does a memory whose
    text is one of ``exclude`` (whitespace-normalised: what the prompt already holds)."""
    cands = [Candidate(m, RECENT) for m in recent]
    relevance = {h.memory.id: h.score for h in hits}
    cands += [Candidate(m, PROFILE, relevance.get(m.id, 0.0)) for m in profile]
    cands += [Candidate(m, PREFERENCES, 1.0) for m in assistant]  # how to answer: always relevant
    cands += [Candidate(h.memory, PREFERENCES, h.score) for h in preferences]
    section = {MemoryKind.PROFILE: PROFILE, MemoryKind.PREFERENCE: PREFERENCES}
    cands += [Candidate(h.memory, section.get(h.memory.kind, RELEVANT), h.score) for h in hits]
    taken: dict[str, int] = {}  # offered so far of each group (_slot): the first ones listed stay
    if exclude:
        cands = [c for c in cands if " ".join(c.memory.text.split()) not in exclude]
    out: list[Candidate] = []
    for c in _dedupe(cands):  # the builder's own rule: a duplicate takes no slot
        if (group := _slot(c)) is not None:
            if taken.get(group, 0) >= (max_episodes if group == "turn" else max_facts):
                continue
            taken[group] = taken.get(group, 0) + 1
        out.append(c)
    return out


def _slot(c: Candidate) -> str | None:
    """The group of a candidate a context offers at most so many of: the profile, the preferences,
    the assistant's lessons and relevant facts ``max_facts`` each (a profile or preference hit of the
    wide search too), relevant past turns ``max_episodes``; recent turns are not counted here."""
    if c.section == RECENT:
        return None
    if c.section == RELEVANT:
        return "turn" if c.memory.kind is MemoryKind.EPISODE else "fact"
    if c.section == PREFERENCES and c.memory.metadata.get("about") == "assistant":
        return "assistant"
    return c.section


def _priority(cands: list[Candidate], turn: Callable[[Candidate], TurnKey]) -> list[Candidate]:
    by: dict[str, list[Candidate]] = {s: [] for s in SECTIONS}
    for c in cands:
        by[c.section].append(c)
    profile = sorted(by[PROFILE], key=lambda c: profile_rank(c.memory, c.score), reverse=True)
    # preferences and relevant memories compete on relevance alone (a stable sort: on a tie,
    # the preference); recent turns take every other place
    scored = sorted([*by[PREFERENCES], *by[RELEVANT]], key=lambda c: c.score, reverse=True)
    recent = sorted(by[RECENT], key=turn, reverse=True)
    mixed: list[Candidate] = []
    for i in range(max(len(scored), len(recent))):
        mixed.extend(x[i] for x in (scored, recent) if i < len(x))
    return [*profile, *mixed]


TurnKey = tuple[datetime, datetime, int]


def _turn_order(candidates: Sequence[Candidate]) -> Callable[[Candidate], TurnKey]:
    """Oldest to newest: by time; turns of the same time (one add) in the reverse of the order
    given (recent turns are listed newest first)."""
    after = {c.memory.id: -i for i, c in enumerate(candidates) if c.section == RECENT}

    def key(c: Candidate) -> TurnKey:
        return (c.memory.event_time or c.memory.created_at, c.memory.created_at, after.get(c.memory.id, 0))

    return key


def _dedupe(candidates: Sequence[Candidate]) -> list[Candidate]:
    seen_ids: set[str] = set()
    seen_said: set[tuple[str | None, str]] = set()  # (speaker, text hash)
    speaker = _speakers(candidates)
    # A past turn that listed profile or preference items were distilled from says the same
    # thing, unless it says more ("My name is Ana. I am allergic to peanuts.": the name only).
    distilled: dict[str, set[str]] = {}
    asked: set[str] = set()  # turns the assistant feedback rules read a request from
    for c in candidates:
        if c.section in (PROFILE, PREFERENCES):
            for source in c.memory.source_ids:
                distilled.setdefault(source, set()).update(tokenize(c.memory.text, pairs=False))
            if c.memory.metadata.get("about") == "assistant" and "rule" in c.memory.metadata:
                asked.update(c.memory.source_ids)
    out: list[Candidate] = []
    for c in candidates:
        if c.section not in SECTIONS:
            raise ValueError(f"unknown context section {c.section!r}")
        m = c.memory
        said_by = (speaker(m), m.hash)
        # a recent turn repeating another's words is still a turn of the transcript
        if m.id in seen_ids or (said_by in seen_said and c.section != RECENT):
            continue
        seen_ids.add(m.id)
        seen_said.add(said_by)
        said = distilled.get(m.id) if c.section == RELEVANT else None
        if said is None:
            out.append(c)
            continue
        words = set(tokenize(m.text, pairs=False))
        # A request the feedback rules rewrote ("请简洁一点" -> "助手应该回答得更简洁。") shares few
        # words with what was kept: a short one of one clause says nothing more.
        if m.id in asked and len(words) <= _SHORT_REQUEST and not _CLAUSE_EDGE.search(m.text.strip(_ENDS)):
            continue
        if len(words - said) > _SAYS_MORE:
            out.append(c)
    return out


_SAYS_MORE = 1  # words of a turn beyond what was distilled from it that say nothing new ("我叫安娜": 叫)
_SHORT_REQUEST = 6  # words
_ENDS = " \t\n.!?;。！？；…~"
_CLAUSE_EDGE = re.compile(r"[.!?;,，。！？；、\n]")


def build_context(candidates: Sequence[Candidate], budget: int, *, tz: tzinfo = UTC) -> Context:
    """Choose, order and render ``candidates`` within ``budget`` tokens (see the module doc); a past
    turn is dated by its day in ``tz`` (the asker's time zone; default UTC, as the store keeps time).

    Duplicates are resolved in the order given: list recent turns and the
    profile before search hits so a memory stays in its most specific section.
    """
    unique = _dedupe(candidates)
    turn = _turn_order(unique)
    chosen: dict[str, list[tuple[Candidate, str, str, int, bool]]] = {s: [] for s in SECTIONS}
    used = 0
    dropped = 0
    for c in _priority(unique, turn):
        header = 0 if chosen[c.section] else count_tokens(_header(c.section))
        tag = id_tag(c.memory.id, _TAG_CHARS)
        prefix = f"[{tag}] "
        lead, said = _line_text(c.memory, c.section, tz)
        body = lead + said
        cost = header + count_tokens(prefix + body)
        truncated = False
        if used + cost > budget:
            room = budget - used - header - count_tokens(prefix)
            if room < MIN_ITEM_TOKENS:
                dropped += 1
                continue
            body = truncate_to_tokens(body, room)
            cost = header + count_tokens(prefix + body)
            # a cut keeping a turn's date and speaker and none of its words is no part of it
            if len(body.removesuffix("…").rstrip()) <= len(lead.rstrip()) or used + cost > budget:
                dropped += 1
                continue
            truncated = True
        used += cost
        chosen[c.section].append((c, lead, body, cost - header, truncated))
    lines: list[str] = []
    items: list[ContextItem] = []
    for section in SECTIONS:
        entries = chosen[section]
        if not entries:
            continue
        if section == RECENT:
            entries.sort(key=lambda e: turn(e[0]))
        elif section == PROFILE:
            entries.sort(key=lambda e: profile_rank(e[0].memory, e[0].score), reverse=True)
        else:
            entries.sort(key=lambda e: e[0].score, reverse=True)
        lines.append(_header(section))
        for c, lead, body, tokens, truncated in entries:
            tag = id_tag(c.memory.id, _TAG_CHARS)
            lines.append(f"[{tag}] {body}")
            kind = c.memory.kind.value
            items.append(ContextItem(c.memory.id, tag, kind, section, body, c.score, tokens, truncated, lead))
    sections = {s: len(chosen[s]) for s in SECTIONS if chosen[s]}
    return Context("\n".join(lines), items, used, budget, dropped=dropped, sections=sections)


# Characters of candidates above which a context is built on a thread: counting the tokens of text
# not counted before takes about a millisecond per 10,000 characters (a session's long turns: tens
# of ms), time the event loop would be held, with no caller's timeout (the gateway's) able to fire.
_BUILD_INLINE_CHARS = 10_000


async def build_context_off_loop(cands: Sequence[Candidate], budget: int, *, tz: tzinfo = UTC) -> Context:
    """:func:`build_context`, on a thread when the candidates' text is long (the records are frozen)."""
    if sum(len(c.memory.text) for c in cands) <= _BUILD_INLINE_CHARS:
        return build_context(cands, budget, tz=tz)
    return await asyncio.to_thread(lambda: build_context(cands, budget, tz=tz))
