"""Rule-based extraction for fast mode: explicit self-statements, without an LLM.

:func:`extract_statements` reads one user message and returns short, normalised
statements about the user ("The user likes hiking.", "The user's name is Ana.")
for what the user said about themselves in plain words, in English or Chinese:
name, identity ("I am a nurse"), workplace, home, and likes/dislikes. It is
deliberately conservative: questions, hypotheticals ("I would like to know"),
negations other than an explicit dislike ("I don't like…") or an end of the home or
workplace ("I no longer live in Rome": :mod:`memoryd.ingest.leaving`), reported speech
("he said I am…") and what holds at another time than now ("I live in Rome
starting next year", "以前，我住在罗马") produce nothing. Pure: no I/O, never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from memoryd.ingest import phrasings
from memoryd.ingest.derived import derived_memory
from memoryd.ingest.later import later, may_unhedged, own_words
from memoryd.ingest.leaving import EN_BODIES, LEFT, ZH_BODIES, ends, place
from memoryd.ingest.objects import clean_object, reported_after, taste_object
from memoryd.ingest.preferences import bare_thing, replaces, taste_hashes, taste_line
from memoryd.ingest.subjects import subject_line, subject_where
from memoryd.models import AddResult, Event, MemoryKind, MemoryRecord, Scope, content_hash
from memoryd.storage import ChangeSet, HistoryDraft, StoredMemory

__all__ = [
    "SINGLE_VALUED",
    "RuleMemory",
    "Statement",
    "draft_all_rules",
    "draft_rule_memories",
    "extract_statements",
    "reopen_profile",
    "said_anew",
    "settle_profile",
    "unquoted",
    "zh_hedged_before",
]

_MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Statement:
    """One extracted statement: its text, kind, metadata and the rule that found it; ``since``, when
    it began if before it was said ("I moved to Lisbon in 2019")."""

    text: str
    kind: MemoryKind
    rule: str
    metadata: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None


# Clause boundaries: a statement is matched inside one clause only ("Tomorrow.io" is a name).
_CLAUSES = re.compile(
    r"(?:[!;\n。！；…]|\.(?![a-z0-9]|(?<=\b[SMF]t\.)\s+[A-Z]))+|,\s*(?:but|and|so|because)\s+|，|(?<=[?？])"
)  # "St. Louis", "Mt. Kenya": one clause
_QUESTION = re.compile(r"[?？]|\b(?:do|does|did|am|are|is|can|could|would|should|will)\s+i\b|吗|呢|么")
_HEDGE_WORDS = (
    r"would|wouldn't|'d|might|may|could|should|if|maybe|perhaps|wish|want|wonder|think|guess|"
    r"suppose|pretend|imagine|said|says|told|asked"
)
_HEDGE = re.compile(
    rf"\b(?:{_HEDGE_WORDS}|not|never|don't|doesn't|didn't|no longer)\b"
    r"|如果|假如|要是|也许|可能|想知道|假设|他说|她说|不是|没有"
)
# Quoted words are someone's speech, or text to work on ('My friend wrote: "I live in Rome. I work at
# Google."', 'Translate: "…"'), however many sentences they hold: left out before the clauses are read.
# An opening quote never closed runs to the end of the message.
_QUOTED = re.compile(r'"[^"]*(?:"|$)|“[^”]*(?:”|$)|「[^」]*(?:」|$)|『[^』]*(?:』|$)')
# What hedges the rest of a Chinese sentence, over its "，" (a clause of its own there): "妈妈说，我住在北京",
# "如果明年搬家，我住在上海", "我梦到，我住在火星".
_ZH_HEDGE_FAR = re.compile(r"如果|假如|要是|也许|可能|假设|想象|梦|说|告诉|问|比如|例如")
_SENTENCE_END = re.compile(r"[.!;\n。！；…?？]")
# Hypotheticals and reported speech reach over "and I …" ("If I get the job and I live in Paris");
# a negation only over its own statement ("I don't like tea but I love coffee").
_HEDGE_FAR = re.compile(rf"\b(?:{_HEDGE_WORDS})\b")
# A statement starts its clause, or follows one of these words; "now" may lead it ("but now I live
# in Paris", after "I used to live in Rome"): it says the statement holds now.
_EN_START = (
    r"(?:^|\b(?:and|but|so|also|well|actually|honestly|oh|yes|yeah|ok|okay)\s+)(?:(?:right\s+)?now,?\s+)?"
)
_STOP_OBJECT = re.compile(
    r"^(?:a bit|kind of|sort of|so|very|really|just|not|going|gonna|trying|about|sure|sorry|afraid|"
    r"here|there|back|fine|ok|okay|good|glad|happy|sad|tired|done|ready|looking|thinking|wondering|"
    r"asking|hoping|interested|curious|it|this|that|what|how|why|you|him|her|them|everyone|everything|"
    # negative or empty quantifiers: "I like nothing", "I like no one", "I like neither…" are no taste
    r"nothing|none|nobody|no(?=\s)|neither|nor|anything|anyone|anybody|both|either)\b"
)
# Where a clause holds a second statement of the speaker's own ("I like cats and I hate dogs"), or a
# move with no "I" after one ("I moved out of Rome and moved to Paris": _MOVED_ON).
_EN_NEXT = re.compile(
    r"\s+(?:and|&|but)\s+(?=(?:now,?\s+)?i(?:'m)?\s|(?:then\s+)?(?:moved|relocated)\s+to\s)", re.I
)
_MOVED_ON = re.compile(r"(?:then\s+)?(?=(?:moved|relocated)\s)", re.I)
_MINE = re.compile(r"(?:\w+,?\s+)?i\b", re.I)  # a part of a clause that the speaker's "I" starts
# Lower-case words inside a name ("Ana da Silva", "Ludwig van Beethoven").
_NAME_PARTICLES = {
    "da", "de", "del", "della", "di", "do", "dos", "das", "du", "van", "von", "der", "den", "la", "le"
}  # fmt: skip
_NOT_A_NAME = {"i", "i'm", "i've", "i'd", "i'll"}

# Ends of a home or workplace ("I no longer live in…", memoryd.ingest.leaving): tried first, and
# only when the part holds one of _LEAVING_WORDS (most turns hold none: eight scans saved).
_LEAVING_EN = [(rule, re.compile(_EN_START + body, re.I)) for rule, body in EN_BODIES]
_LEAVING_WORDS = ("longer", "more", "moved", "away", "left", "quit", "resign", "stopped")
_EN_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("name", re.compile(_EN_START + r"(?:my name is|my name's|call me)\s+(?P<x>.+)", re.I)),
    (
        "work",
        re.compile(
            _EN_START + r"i(?:'m| am)?\s+(?:currently\s+|now\s+)?work(?:ing)?\s+(?:at|for)\s+(?P<x>.+)", re.I
        ),
    ),
    (
        "live",
        re.compile(_EN_START + r"i(?:'m| am)?\s+(?:currently\s+|now\s+)?liv(?:e|ing)\s+in\s+(?P<x>.+)", re.I),
    ),
    (
        "dislike",
        re.compile(
            _EN_START + r"i\s+(?:really\s+)?(?:hate|dislike|can't stand|don't like|do not like|"
            r"no longer like)\s+(?P<x>.+)",
            re.I,
        ),
    ),
    (
        "like",
        re.compile(
            _EN_START
            + r"i\s+(?:really\s+|also\s+|absolutely\s+)?(?P<v>like|love|enjoy|prefer|adore)\s+(?P<x>.+)",
            re.I,
        ),
    ),
    ("am", re.compile(_EN_START + r"(?:i am|i'm)\s+(?P<x>(?:a|an)\s+.+)", re.I)),
]
_MORE_EN = [(rule, re.compile(_EN_START + body, re.I)) for rule, body in phrasings.EN_BODIES]  # on prefilter
# A word every English rule above needs ("I", "I'm", "my name", "call me").
_EN_ANY = re.compile(r"\b(?:i|my\s+(?:name|favou?rite)|call\s+me)\b", re.I)
# A statement starts a clause, or follows a turn of it ("我讨厌下雨，但我喜欢雪").
# A Chinese statement starts its clause or follows one of these; "现在" / "目前" / "如今" (now) may lead it
# ("以前我住在米兰，现在我住在罗马": the second clause is the home now).
_ZH_START = r"(?:^|[，,\s]|但是|但|可是|不过|而且)(?:现在|目前|如今)?"
_ZH_RULES: list[tuple[str, re.Pattern[str]]] = [
    *((rule, re.compile(_ZH_START + body)) for rule, body in ZH_BODIES),  # "我不再住在…"
    *((rule, re.compile(_ZH_START + body)) for rule, body in phrasings.ZH_BODIES),  # "我搬到了…"
    ("name", re.compile(_ZH_START + r"我(?:的名字)?叫(?P<x>[^，,。！？\s]{1,20})")),
    ("name", re.compile(_ZH_START + r"我的名字是(?P<x>[^，,。！？\s]{1,20})")),
    ("work", re.compile(_ZH_START + r"我(?:现在|目前)?在(?P<x>[^，,。！？\s]{1,30}?)(?:上班|工作)")),
    ("live", re.compile(_ZH_START + r"我(?:现在|目前)?住在(?P<x>[^，,。！？\s]{1,30})")),
    (
        "dislike",
        re.compile(
            _ZH_START + r"我(?:很|非常|特别|也|最)?(?:讨厌|不喜欢|不爱|不再喜欢)(?P<x>[^，,。！？\s]{1,30})"
        ),
    ),
    (
        "like",
        re.compile(_ZH_START + r"我(?:很|非常|特别|也|最)?(?:喜欢|爱|热爱)(?P<x>[^，,。！？\s]{1,30})"),
    ),
    ("am", re.compile(_ZH_START + r"我是(?:一[个名位])?(?P<x>[^，,。！？\s]{1,20})")),
]
# Where a Chinese object ends: a turn of the sentence ("我喜欢苹果但不喜欢香蕉").
_ZH_OBJECT_END = re.compile(r"但是|但|可是|不过|然而|而且|而|却|并且")
_ZH_STOP = re.compile(
    r"^(?:说|想|觉得|认为|不|没|要|会|能|可以|在|的|了|吗|什么|谁|哪|你|他|她|它|这|那|大家)"
)
# A clause that is only a time other than now, next to a statement in its sentence, makes it about
# then: a plan ("明年，我住在罗马", "我住在罗马，从明年开始", "下个月起，我在谷歌工作") or the past
# ("以前，我住在罗马", "去年，我住在罗马"). "从去年开始，我住在罗马" (since last year) is now.
_ZH_NOT_NOW = re.compile(
    r"(?:从|自|到了?|等到)?(?:明年|后年|明天|后天|下个?月|下个?(?:星期|礼拜)|下周|下半年|将来|未来|以后|之后)"
    r"(?:开始|起|以后|后)?"
    r"|以前|之前|过去|从前|曾经|当时|那时候?|小时候|去年|前年|上个?月|上个?(?:星期|礼拜)|上周"
)
_ZH_CLAUSE_EDGE = re.compile(r"[，,.!;\n。！；…?？]")


# Objects of "I work at/for …" that name no workplace (the object is already in the third person).
_NO_EMPLOYER = re.compile(
    r"^(?:home|their home|the house|night|nights|weekends|the moment|first|last|least|most|times|"
    r"themselves|themself|their own|a desk|a computer)$",
    re.I,
)


_ZH_TEXT = {
    "name": "用户叫{}。",
    "work": "用户在{}工作。",
    "live": "用户住在{}。",
    "am": "用户是{}。",
    "like": "用户喜欢{}。",
    "dislike": "用户不喜欢{}。",
}
_ZH_KIND = {"name": "name", "work": "work", "live": "location", "am": "identity"}


_LEFT_TEXT = {
    ("moved_out", False): "The user no longer lives in {}.",
    ("left_work", False): "The user no longer works at {}.",
    ("moved_out", True): "用户不再住在{}。",
    ("left_work", True): "用户不再在{}工作。",
}
_LEFT_KIND = {"moved_out": "location", "left_work": "work"}


def _statement(rule: str, obj: str, verb: str | None, zh: bool) -> Statement | None:
    if rule in _LEFT_KIND:  # an end of the home or workplace (memoryd.ingest.leaving)
        obj = place(obj)  # "I left Google last year": Google
        if not zh and rule == "left_work" and _NO_EMPLOYER.match(obj):
            return None
        text = _LEFT_TEXT[rule, zh].format(obj)
        return Statement(text, MemoryKind.PROFILE, rule, {"attribute": _LEFT_KIND[rule], LEFT: obj})
    if zh:
        if rule in _ZH_KIND:
            return Statement(
                _ZH_TEXT[rule].format(obj), MemoryKind.PROFILE, rule, {"attribute": _ZH_KIND[rule]}
            )
        return Statement(
            _ZH_TEXT[rule].format(bare_thing(obj)),  # "咖啡:" is "咖啡": one text per thing and stance
            MemoryKind.PREFERENCE,
            rule,
            {"preference": "explicit", "polarity": rule},
        )
    if rule == "name":
        name = _name(obj)
        if name is None:
            return None
        return Statement(f"The user's name is {name}.", MemoryKind.PROFILE, "name", {"attribute": "name"})
    if rule == "work":
        if _NO_EMPLOYER.match(obj):  # "I work at home", "I work for myself": where or how, not for whom
            return None
        return Statement(f"The user works at {obj}.", MemoryKind.PROFILE, "work", {"attribute": "work"})
    if rule == "live":
        return Statement(f"The user lives in {obj}.", MemoryKind.PROFILE, "live", {"attribute": "location"})
    if rule == "am":
        return Statement(f"The user is {obj}.", MemoryKind.PROFILE, "identity", {"attribute": "identity"})
    polarity = "dislike" if rule == "dislike" else "like"
    obj = bare_thing(obj)  # one text per thing and stance (taste_hashes)
    if polarity == "dislike":
        text = f"The user dislikes {obj}."
    else:
        word = {"love": "loves", "enjoy": "enjoys", "prefer": "prefers", "adore": "loves"}.get(
            (verb or "like").lower(), "likes"
        )
        text = f"The user {word} {obj}."
    return Statement(text, MemoryKind.PREFERENCE, polarity, {"preference": "explicit", "polarity": polarity})


def _name(obj: str) -> str | None:
    """The name at the start of ``obj``: up to three capitalised words (with particles such as
    "da" between them), ending at punctuation or the first other word ("Ana, please" -> "Ana",
    "Ana and I'm 30" -> "Ana", "Ana btw" -> "Ana"); None if it does not start with one."""
    words: list[str] = []
    tokens = obj.split()
    for i, token in enumerate(tokens):
        word = token.rstrip(",.;:!?)\"'”’")
        if not word or word.lower() in _NOT_A_NAME:
            break
        capital = word[:1].isupper() and any(ch.isalpha() for ch in word)
        particle = (
            bool(words) and word in _NAME_PARTICLES and i + 1 < len(tokens) and tokens[i + 1][:1].isupper()
        )
        if not (capital or particle):
            break
        words.append(word)
        if word != token or sum(w not in _NAME_PARTICLES for w in words) == 3:
            break
    while words and words[-1] in _NAME_PARTICLES:
        words.pop()
    return " ".join(words) or None


def _english(clause: str, at: datetime) -> list[Statement]:
    """The statements of one clause: one per part of it that begins with "I" after "and"/"but"
    ("I like cats and I hate dogs"); what comes before a part still hedges it ("If I get the job
    and I live in Paris")."""
    if _EN_ANY.search(clause) is None:
        return []  # every rule needs one of these words: one scan instead of six
    joins = list(_EN_NEXT.finditer(clause))
    starts = [0, *(m.end() for m in joins)]
    ends = [*(m.start() for m in joins), len(clause)]
    out: list[Statement] = []
    for i, (start, end) in enumerate(zip(starts, ends)):
        moved_on = _MOVED_ON.match(clause, start) if i > 0 else None
        if moved_on is not None and not _MINE.match(clause[starts[i - 1] :]):
            continue  # "My sister finished school and moved to Paris": hers
        if moved_on is not None:  # "… and (then) moved to Paris": the speaker's, as "I moved to Paris"
            found = _english_part(clause, moved_on.end(), end, at, "I ")
        else:
            found = _english_part(clause, start, end, at)
        if found is not None:
            out.append(found)
    return out


# The rules to try on a part, by whether it may end a home and may hold a phrasing of phrasings.
_TRIED = {
    (leaving, more): (_LEAVING_EN if leaving else []) + _EN_RULES + (_MORE_EN if more else [])
    for leaving in (False, True)
    for more in (False, True)
}


def _rules_for(part: str) -> list[tuple[str, re.Pattern[str]]]:
    low = part.lower()
    return _TRIED[any(w in low for w in _LEAVING_WORDS), phrasings.prefilter(part)]


def _english_part(clause: str, start: int, end: int, at: datetime, subject: str = "") -> Statement | None:
    part = subject + clause[start:end]
    for rule, pattern in _rules_for(part):
        found = pattern.search(part)
        if found is None:
            continue
        if _HEDGE_FAR.search(clause[:start].lower()) or _HEDGE.search(part[: found.start()].lower()):
            return None
        raw = found.group("x")
        if reported_after(raw):  # "I love cats, she said": someone else's words
            return None
        obj = clean_object(taste_object(raw) if rule in ("like", "dislike") else raw)
        if obj is None or _STOP_OBJECT.match(obj.lower()) or _HEDGE.search(may_unhedged(obj, at).lower()):
            return None
        if rule not in ("like", "dislike") and later(obj, at):
            return None  # "I live in Rome starting next year": not where the user lives now
        if rule in phrasings.PHRASED:  # more phrasings ("I moved to Lisbon"): memoryd.ingest.phrasings
            said = phrasings.phrased(rule, obj, found, at, zh=False)
            return None if said is None else Statement(*said)
        if rule in ("work", "live", *_LEFT_KIND):
            obj = own_words(obj)  # "Berlin, in two weeks I fly to Rome": Berlin
        if rule in ("like", "dislike") and re.match(r"(?i)to\s", obj):
            return None  # "I like to think…", "I hate to say it": intentions and manners, not tastes
        return _statement(rule, obj, found.groupdict().get("v"), zh=False)
    return None


def _chinese(clause: str) -> Statement | None:
    for rule, pattern in _ZH_RULES:
        found = pattern.search(clause)
        if found is None:
            continue
        if _HEDGE.search(clause[: found.start("x")]):
            return None
        obj = _ZH_OBJECT_END.split(found.group("x"), maxsplit=1)[0].rstrip("了的啊呀吧")
        if not obj or _ZH_STOP.match(obj) or _HEDGE.search(obj):
            return None
        if rule in phrasings.PHRASED:
            said = phrasings.phrased(rule, obj, found, None, zh=True)
            return None if said is None else Statement(*said)
        return _statement(rule, obj, None, zh=True)
    return None


def unquoted(text: str) -> str:
    """``text`` without its quoted words (someone's speech, or text to work on)."""
    return _QUOTED.sub(" ", text)


def zh_hedged_before(text: str, start: int) -> bool:
    """Whether what comes before ``start`` in its sentence hedges a Chinese clause there (a "，"
    cuts a clause, not the 妈妈说 / 如果 / 我梦到 before it)."""
    before = text[:start]
    sentence = before[max((m.end() for m in _SENTENCE_END.finditer(before)), default=0) :]
    return _ZH_HEDGE_FAR.search(sentence) is not None


def _zh_not_now(text: str, start: int, end: int) -> bool:
    """Whether the clause just before ``text[start:end]`` in its sentence, the one just after, or
    a part of it after a "," is only a time other than now (:data:`_ZH_NOT_NOW`)."""
    before = text[:start].rstrip("，, ")
    before = before[max((m.end() for m in _ZH_CLAUSE_EDGE.finditer(before)), default=0) :]
    after = text[end:]
    after = after[1:] if after[:1] in ("，", ",") else ""  # a clause of the same sentence
    edge = _ZH_CLAUSE_EDGE.search(after)
    parts = [before, after[: edge.start() if edge else len(after)], *text[start:end].split(",")]
    return any(_ZH_NOT_NOW.fullmatch(part.strip()) for part in parts)


def extract_statements(text: str, role: str | None = "user", at: datetime | None = None) -> list[Statement]:
    """The explicit self-statements in one message (only user messages; never raises), said at
    ``at`` (default: now): "from 2019" said in 2024 is now, not a plan."""
    at = at or datetime.now(UTC)
    if role not in (None, "user") or not isinstance(text, str):
        return []
    text = unquoted(text[:_MAX_MESSAGE_CHARS])
    if "我" not in text and _EN_ANY.search(text) is None:
        return []  # every rule needs one of these (clause edges add no word boundary)
    out: list[Statement] = []
    seen: set[str] = set()
    try:
        edges = [(m.start(), m.end()) for m in _CLAUSES.finditer(text)]
        for start, end in zip([0, *(e for _, e in edges)], [*(b for b, _ in edges), len(text)], strict=True):
            clause = text[start:end].strip()
            if not clause or _QUESTION.search(clause.lower()):
                continue
            if "我" in clause:
                not_now = zh_hedged_before(text, start) or _zh_not_now(text, start, end)
                zh = None if not_now else _chinese(clause)
                found = [] if zh is None else [zh]
            else:
                found = _english(clause, at)
            for statement in found:
                if statement.text.lower() not in seen:
                    seen.add(statement.text.lower())
                    out.append(statement)
    except (ValueError, IndexError):  # pragma: no cover - defensive: extraction is best effort
        return out
    return out


@dataclass(frozen=True, slots=True)
class RuleMemory:
    """A memory drafted from a statement, with the episode it came from."""

    memory: MemoryRecord
    statement: Statement
    episode_id: str


# What the rules read a memory by (its rule, timeline, stance, subject, the place it ends): an add's
# metadata never sets them on what the rules write.
_RULE_KEYS = frozenset({"rule", "attribute", "preference", "polarity", "favourite", "subject", "about", LEFT})


def _callers(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if k not in _RULE_KEYS}


def draft_rule_memories(
    episodes: Sequence[MemoryRecord],
    now: datetime,
    extract: Callable[[str, str | None], list[Statement]] | None = None,
) -> list[RuleMemory]:
    """Profile and preference memories from the user episodes of one add (one per distinct text,
    but one said again after what ended it: "I like tea", "I hate tea", "I like tea!"); ``extract``
    picks other rules (:func:`memoryd.hierarchy.feedback.extract_feedback`).

    They are owned by the episodes' user/agent (``run_id`` only when there is no other owner)."""
    out: list[RuleMemory] = []
    seen: dict[str, MemoryRecord] = {}
    lines: dict[Home, list[str]] = {}  # the drafts on each timeline, by hash
    for episode in episodes:
        if episode.kind is not MemoryKind.EPISODE:
            continue
        said = (
            extract_statements(episode.text, episode.role, episode.valid_from)
            if extract is None
            else extract(episode.text, episode.role)
        )
        for found in said:
            digest = content_hash(found.text)
            if digest in seen:
                continue
            # Like fine mode's facts, they belong to the user, not the session (kept as provenance).
            memory = derived_memory(
                found.text,
                found.kind,
                episode.scope,
                source_ids=(episode.id,),
                # the add's metadata too, as fine mode's facts keep it, but none of the keys the
                # rules read a memory by (an add's "left" would make a like an unmatched end)
                metadata={**_callers(episode.metadata), **found.metadata, "rule": found.rule},
                event_time=episode.event_time,
                valid_from=min(found.since or episode.valid_from, episode.valid_from),
                now=now,
            )
            out.append(RuleMemory(memory, found, episode.id))
            if (home := _home(memory)) is not None:  # what it ends may be said again after it
                on = lines.setdefault(home, [])
                for gone in [h for h in on if replaces(memory, seen[h])]:
                    del seen[gone]
                    on.remove(gone)
                on.append(digest)
            seen[digest] = memory
    return out


def said_anew(memories: Sequence[MemoryRecord]) -> set[int]:
    """The positions in ``memories`` (the rule memories of one add) of those said after another
    of them on their timeline that ends what they state, by when each was said, then by order
    ("I hate coffee", "I like coffee"; "I live in Paris", "I live in Rome"): stated again, anew,
    even when what they state is current (it ends there), as in a later add."""
    on: dict[Home, list[MemoryRecord]] = {}
    out: set[int] = set()
    for i in sorted(range(len(memories)), key=lambda i: (memories[i].valid_from, i)):
        m = memories[i]
        if (home := _home(m)) is None:
            continue
        before = on.setdefault(_readers(home), [])
        if any(e.hash != m.hash and replaces(e, m) for e in before):
            out.add(i)
        before.append(m)
    return out


# Profile attributes a person has one of at a time: a new statement of one replaces the last.
SINGLE_VALUED = ("name", "location", "work")
Home = tuple[str | None, str | None, str]  # (user_id, agent_id, attribute or taste): one owner's timeline


def _home(m: MemoryRecord) -> Home | None:
    """The timeline a profile memory of a :data:`SINGLE_VALUED` attribute is on, or an explicit
    taste (its thing: :func:`~memoryd.ingest.preferences.taste_line`); else None."""
    attribute = m.metadata.get("attribute")
    if m.kind is MemoryKind.PROFILE and attribute in SINGLE_VALUED:
        return (m.user_id, m.agent_id, str(attribute))
    # another speaker's home (memoryd.ingest.subjects), a taste, a favourite (memoryd.ingest.phrasings)
    line = subject_line(m) or taste_line(m) or phrasings.favourite_line(m)
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
        mine = subject_where(attribute) or phrasings.line_filter(attribute)
        mine["user_id"] = user_id
        if user_id is None:
            mine["agent_id"] = agent_id
        ids += await records.select_ids(owner, parse_filter(mine), include_expired=True, cap=1000)
    for owner, hashes in tastes.items():
        ids += await records.with_hashes(owner, hashes)
    out: dict[Home, dict[str, MemoryRecord]] = {home: {} for home in homes}
    for i, m in (await records.get_many([i for i in ids if i not in leaving])).items():
        if (on := _home(m)) is not None and (line := out.get(_readers(on))) is not None:
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
    already ended. An end is only ever moved earlier: a gap that fine mode left stays.

    Every agent of a user reads the user's shared memories, so the agents' views stay one home
    each: an agent's new one said after a shared one that was current is stored shared (as
    fine mode's SUPERSEDE of a shared memory is), and a shared new one ends each agent's own
    said before it. Returns ``results`` with the new ones as they are stored."""
    groups: dict[Home, list[MemoryRecord]] = {}
    for u in changes.upserts:
        if u.vector is not None and (home := _home(u.memory)) is not None:
            groups.setdefault(_readers(home), []).append(u.memory)
    staged = {u.memory.id: i for i, u in enumerate(changes.upserts)}  # e.g. a source added: close that
    replaced: dict[str, MemoryRecord] = {}  # new memory id -> the stored one it ended
    leaving = {m.id for news in groups.values() for m in news} | set(changes.deletes)
    found = await _stored_on(records, {home: news[0].scope for home, news in groups.items()}, leaving)
    unmatched: set[str] = set()  # new ends of a home that was not the current one: not stored
    for home, news in groups.items():
        olds = found[home]
        said = {m.hash for m in news}  # the same statement again is no change
        anew = {news[i].hash for i in said_anew(news)}  # but after its end in this add ("I hate tea")
        every = [changes.upserts[staged[o.id]].memory if o.id in staged else o for o in olds.values()]
        stored = [o for o in every if o.hash not in said or (o.hash in anew and o.valid_to is None)]
        writer = next((m.agent_id for m in news if m.agent_id is not None), None)
        # by when it was said; at the same instant what is stored first, then the add's order
        line = _one_at_a_time(
            sorted(
                [(o.valid_from, 0, i, o) for i, o in enumerate(stored) if _sees(writer, o)]
                + [(m.valid_from, 1, i, m) for i, m in enumerate(news)],
                key=lambda item: item[:3],
            ),
            changes,
            staged,
        )
        line = _without_unmatched_ends(line, unmatched)
        news = [m for m in news if m.id not in unmatched]
        for k, (start, is_new, _, m) in enumerate(line):
            nxt = next((said for said in line[k + 1 :] if replaces(said[3], m)), None)  # a home's: the next
            if nxt is None:
                continue
            then, new_next, _, after = nxt
            if _close(m, _end(start, then), after, changes, staged, actor, now) and not is_new and new_next:
                replaced[after.id] = m
        if home[0] is not None:
            _move_to_shared(_share(line, olds), changes)
            _end_agents_own(news, every, writer, changes, staged, actor, now)  # copies of it too
    if unmatched:
        _unstage(unmatched, changes)
        results = [r for r in results if r.id not in unmatched]
    final = {u.memory.id: u.memory for u in changes.upserts}  # as stored: ended, or said just after
    # A new one that ended a stored one says so, as fine mode's SUPERSEDE does: the text it replaced.
    out = []
    for r in results:
        gone = replaced.get(r.id or "")
        if gone is None:
            out.append(replace(r, memory=final.get(r.id or "", r.memory)))
            continue
        why = f"supersedes memory {gone.id}"
        why = why if r.reason is None else f"{r.reason}; {why}"
        out.append(
            replace(r, memory=final[r.id or ""], event=Event.SUPERSEDE, previous=gone.text, reason=why)
        )
    return out


def _without_unmatched_ends(line: list[_Said], unmatched: set[str]) -> list[_Said]:
    """``line`` without its new ends of a home (:mod:`memoryd.ingest.leaving`: "I no longer live in
    Milan") that do not end the one current just before them, each added to ``unmatched``."""
    out: list[_Said] = []
    for said in line:
        m = said[3]
        if said[1] and LEFT in m.metadata and not ends(m, out[-1][3] if out else None):
            unmatched.add(m.id)
            continue
        out.append(said)
    return out


def _unstage(ids: set[str], changes: ChangeSet) -> None:
    """Take the new memories ``ids`` out of ``changes``, with their history and relations."""
    changes.upserts = [u for u in changes.upserts if u.memory.id not in ids]
    changes.history = [h for h in changes.history if h.memory_id not in ids]
    changes.graph_add = [g for g in changes.graph_add if g.memory_id not in ids]


def _close(
    m: MemoryRecord,
    ends: datetime,
    after: MemoryRecord,
    changes: ChangeSet,
    staged: dict[str, int],
    actor: str,
    now: datetime,
) -> bool:
    """End ``m`` (stored, or new in ``changes``) at ``ends``, where ``after`` begins, unless it ended
    by then already; a SUPERSEDE in its history naming ``after``'s text. Whether it was ended."""
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
    changes.history.append(HistoryDraft.of(m, Event.SUPERSEDE, m.text, after.text, actor, now))
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
            _close(o, _end(o.valid_from, later.valid_from), later, changes, staged, actor, now)


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
        if (home := _home(m)) is not None:
            groups.setdefault(_readers(home), []).append(m)
    leaving = set(changes.deletes) | {m.id for m in lost}
    staged = {u.memory.id: u.memory for u in changes.upserts}
    out: list[MemoryRecord] = []
    found = await _stored_on(records, {home: dead[0].scope for home, dead in groups.items()}, leaving)
    for home, dead in groups.items():
        stored = found[home]
        news = [
            m for m in staged.values()
            if m.id not in stored and (h := _home(m)) is not None and _readers(h) == home
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


def draft_all_rules(episodes: Sequence[MemoryRecord], now: datetime) -> list[RuleMemory]:
    """Fast-mode rule drafts (profile, preferences, assistant feedback) of new episodes; pure."""
    from memoryd.hierarchy.feedback import draft_feedback_memories

    return draft_rule_memories(episodes, now) + draft_feedback_memories(episodes, now)
