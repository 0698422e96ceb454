"""Rule-based extraction for fast mode: explicit self-statements, without an LLM.

:func:`extract_statements` reads one user message and returns short, normalised
statements about the user ("The user likes hiking.", "The user's name is Ana.")
for what the user said about themselves in plain words, in English or Chinese:
name, identity ("I am a nurse"), workplace, home, and likes/dislikes. It is
deliberately conservative: questions, hypotheticals ("I would like to know"),
negations other than an explicit dislike ("I don't like…"), and reported
speech ("he said I am…") produce nothing. Pure: no I/O, never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from memoryd.ingest.derived import derived_memory
from memoryd.models import MemoryKind, MemoryRecord, content_hash

__all__ = ["RuleMemory", "Statement", "draft_rule_memories", "extract_statements"]

_MAX_OBJECT_WORDS = 8
_MAX_OBJECT_CHARS = 60
_MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Statement:
    """One extracted statement: its text, kind, metadata and the rule that found it."""

    text: str
    kind: MemoryKind
    rule: str
    metadata: dict[str, Any] = field(default_factory=dict)


# Clause boundaries: a statement is matched inside one clause only.
_CLAUSES = re.compile(r"[.!;\n。！；…]+|,\s*(?:but|and|so|because)\s+|，|(?<=\?)|？")
_QUESTION = re.compile(r"[?？]|\b(?:do|does|did|am|are|is|can|could|would|should|will)\s+i\b|吗|呢|么")
_HEDGE = re.compile(
    r"\b(?:would|wouldn't|'d|might|may|could|should|if|maybe|perhaps|wish|want|wonder|think|guess|"
    r"suppose|pretend|imagine|said|says|told|asked|not|never|don't|doesn't|didn't|no longer)\b"
    r"|如果|假如|要是|也许|可能|想知道|假设|他说|她说|不是|没有"
)
_EN_START = r"(?:^|\b(?:and|but|so|also|well|actually|honestly|oh|yes|yeah|ok|okay)\s+)"
_STOP_OBJECT = re.compile(
    r"^(?:a bit|kind of|sort of|so|very|really|just|not|going|gonna|trying|about|sure|sorry|afraid|"
    r"here|there|back|fine|ok|okay|good|glad|happy|sad|tired|done|ready|looking|thinking|wondering|"
    r"asking|hoping|interested|curious|it|this|that|what|how|why|you|him|her|them|everyone|everything)\b"
)
_TRAIL = re.compile(r"[\s,.:;!'\"“”‘’)(\]\[]+$")

_EN_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("name", re.compile(_EN_START + r"(?:my name is|my name's|call me)\s+(?P<x>.+)", re.I)),
    (
        "work",
        re.compile(
            _EN_START + r"i(?:'m| am)?\s+(?:currently\s+)?work(?:ing)?\s+(?:at|for)\s+(?P<x>.+)", re.I
        ),
    ),
    ("live", re.compile(_EN_START + r"i(?:'m| am)?\s+(?:currently\s+)?liv(?:e|ing)\s+in\s+(?P<x>.+)", re.I)),
    (
        "dislike",
        re.compile(
            _EN_START + r"i\s+(?:really\s+)?(?:hate|dislike|can't stand|don't like|do not like)\s+(?P<x>.+)",
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
# A word every English rule above needs ("I", "I'm", "my name", "call me").
_EN_ANY = re.compile(r"\b(?:i|my\s+name|call\s+me)\b", re.I)
_ZH_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("name", re.compile(r"(?:^|[，,\s])我(?:的名字)?叫(?P<x>[^，,。！？\s]{1,20})")),
    ("name", re.compile(r"(?:^|[，,\s])我的名字是(?P<x>[^，,。！？\s]{1,20})")),
    ("work", re.compile(r"(?:^|[，,\s])我(?:现在|目前)?在(?P<x>[^，,。！？\s]{1,30}?)(?:上班|工作)")),
    ("live", re.compile(r"(?:^|[，,\s])我(?:现在|目前)?住在(?P<x>[^，,。！？\s]{1,30})")),
    (
        "dislike",
        re.compile(r"(?:^|[，,\s])我(?:很|非常|特别)?(?:讨厌|不喜欢|不爱)(?P<x>[^，,。！？\s]{1,30})"),
    ),
    (
        "like",
        re.compile(r"(?:^|[，,\s])我(?:很|非常|特别|也|最)?(?:喜欢|爱|热爱)(?P<x>[^，,。！？\s]{1,30})"),
    ),
    ("am", re.compile(r"(?:^|[，,\s])我是(?:一[个名位])?(?P<x>[^，,。！？\s]{1,20})")),
]
_ZH_STOP = re.compile(
    r"^(?:说|想|觉得|认为|不|没|要|会|能|可以|在|的|了|吗|什么|谁|哪|你|他|她|它|这|那|大家)"
)


_FIRST_PERSON = re.compile(r"\b(my|mine|me|myself)\b", re.I)
_THIRD_PERSON = {"my": "their", "mine": "theirs", "me": "them", "myself": "themselves"}


def _clean_object(raw: str) -> str | None:
    """The object of an English statement, cut at its first clause break, in the third person
    ("hiking with my dog" -> "hiking with their dog"); None if unusable."""
    text = _TRAIL.sub("", " ".join(raw.split()))
    for cut in (" because ", " since ", " when ", " but ", " and i ", " though "):
        pos = text.lower().find(cut)
        if pos > 0:
            text = text[:pos]
    text = _TRAIL.sub("", text)
    if not text or len(text) > _MAX_OBJECT_CHARS or len(text.split()) > _MAX_OBJECT_WORDS:
        return None
    if not any(ch.isalnum() for ch in text):
        return None
    return _FIRST_PERSON.sub(lambda m: _THIRD_PERSON[m.group(1).lower()], text)


_ZH_TEXT = {
    "name": "用户叫{}。",
    "work": "用户在{}工作。",
    "live": "用户住在{}。",
    "am": "用户是{}。",
    "like": "用户喜欢{}。",
    "dislike": "用户不喜欢{}。",
}
_ZH_KIND = {"name": "name", "work": "work", "live": "location", "am": "identity"}


def _statement(rule: str, obj: str, verb: str | None, zh: bool) -> Statement | None:
    if zh:
        if rule in _ZH_KIND:
            return Statement(
                _ZH_TEXT[rule].format(obj), MemoryKind.PROFILE, rule, {"attribute": _ZH_KIND[rule]}
            )
        return Statement(
            _ZH_TEXT[rule].format(obj),
            MemoryKind.PREFERENCE,
            rule,
            {"preference": "explicit", "polarity": rule},
        )
    if rule == "name":
        name = " ".join(obj.split()[:3])
        if not name[:1].isupper():
            return None
        return Statement(f"The user's name is {name}.", MemoryKind.PROFILE, "name", {"attribute": "name"})
    if rule == "work":
        return Statement(f"The user works at {obj}.", MemoryKind.PROFILE, "work", {"attribute": "work"})
    if rule == "live":
        return Statement(f"The user lives in {obj}.", MemoryKind.PROFILE, "live", {"attribute": "location"})
    if rule == "am":
        return Statement(f"The user is {obj}.", MemoryKind.PROFILE, "identity", {"attribute": "identity"})
    polarity = "dislike" if rule == "dislike" else "like"
    if polarity == "dislike":
        text = f"The user dislikes {obj}."
    else:
        word = {"love": "loves", "enjoy": "enjoys", "prefer": "prefers", "adore": "loves"}.get(
            (verb or "like").lower(), "likes"
        )
        text = f"The user {word} {obj}."
    return Statement(text, MemoryKind.PREFERENCE, polarity, {"preference": "explicit", "polarity": polarity})


def _english(clause: str) -> Statement | None:
    if _EN_ANY.search(clause) is None:
        return None  # every rule needs one of these words: one scan instead of six
    for rule, pattern in _EN_RULES:
        found = pattern.search(clause)
        if found is None:
            continue
        if _HEDGE.search(clause[: found.start()].lower()):
            return None
        obj = _clean_object(found.group("x"))
        if obj is None or _STOP_OBJECT.match(obj.lower()) or _HEDGE.search(obj.lower()):
            return None
        if rule == "like" and re.match(r"(?i)to\s", obj):
            return None  # "I like to think…", "I'd love to…": intentions, not tastes
        return _statement(rule, obj, found.groupdict().get("v"), zh=False)
    return None


def _chinese(clause: str) -> Statement | None:
    for rule, pattern in _ZH_RULES:
        found = pattern.search(clause)
        if found is None:
            continue
        if _HEDGE.search(clause[: found.start("x")]):
            return None
        obj = found.group("x").rstrip("了的啊呀吧")
        if not obj or _ZH_STOP.match(obj) or _HEDGE.search(obj):
            return None
        return _statement(rule, obj, None, zh=True)
    return None


def extract_statements(text: str, role: str | None = "user") -> list[Statement]:
    """The explicit self-statements in one message (only user messages; never raises)."""
    if role not in (None, "user") or not isinstance(text, str):
        return []
    text = text[:_MAX_MESSAGE_CHARS]
    if "我" not in text and _EN_ANY.search(text) is None:
        return []  # every rule needs one of these (clause edges add no word boundary)
    out: list[Statement] = []
    seen: set[str] = set()
    try:
        for clause in _CLAUSES.split(text):
            clause = clause.strip()
            if not clause or _QUESTION.search(clause.lower()):
                continue
            found = _chinese(clause) if "我" in clause else _english(clause)
            if found is not None and found.text.lower() not in seen:
                seen.add(found.text.lower())
                out.append(found)
    except (ValueError, IndexError):  # pragma: no cover - defensive: extraction is best effort
        return out
    return out


@dataclass(frozen=True, slots=True)
class RuleMemory:
    """A memory drafted from a statement, with the episode it came from."""

    memory: MemoryRecord
    statement: Statement
    episode_id: str


def draft_rule_memories(
    episodes: Sequence[MemoryRecord],
    now: datetime,
    extract: Callable[[str, str | None], list[Statement]] | None = None,
) -> list[RuleMemory]:
    """Profile and preference memories from the user episodes of one add (one per distinct text);
    ``extract`` picks other rules (:func:`memoryd.hierarchy.feedback.extract_feedback`).

    They are owned by the episodes' user/agent (``run_id`` only when there is no other owner)."""
    extract = extract or extract_statements
    out: list[RuleMemory] = []
    seen: set[str] = set()
    for episode in episodes:
        if episode.kind is not MemoryKind.EPISODE:
            continue
        for found in extract(episode.text, episode.role):
            digest = content_hash(found.text)
            if digest in seen:
                continue
            seen.add(digest)
            # Like fine mode's facts, they belong to the user, not the session (kept as provenance).
            memory = derived_memory(
                found.text,
                found.kind,
                episode.scope,
                source_ids=(episode.id,),
                metadata={**found.metadata, "rule": found.rule},
                event_time=episode.event_time,
                valid_from=episode.valid_from,
                now=now,
            )
            out.append(RuleMemory(memory, found, episode.id))
    return out
