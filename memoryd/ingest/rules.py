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
How what they state is laid out over time (a later home ends the earlier):
:mod:`memoryd.ingest.timelines`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from memoryd.ingest import phrasings
from memoryd.ingest.derived import derived_memory
from memoryd.ingest.later import later, may_unhedged, own_words
from memoryd.ingest.leaving import (
    EN_BODIES,
    EN_WHEN,
    LEFT,
    ZH_BODIES,
    ZH_THING,
    ZH_X,
    no_end,
    place,
    said_when,
)
from memoryd.ingest.objects import clean_object, hedged_after, reported_after, taste_object
from memoryd.ingest.places import MOVED
from memoryd.ingest.preferences import bare_thing, replaces
from memoryd.ingest.timelines import Home, timeline_of
from memoryd.models import MemoryKind, MemoryRecord, content_hash
from memoryd.text import straight_apostrophes

__all__ = [
    "RuleMemory",
    "Statement",
    "draft_all_rules",
    "draft_rule_memories",
    "extract_statements",
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
    r"|(?<=[\u3400-\u9fff]),\s*(?=[\u3400-\u9fff])"
)  # "St. Louis", "Mt. Kenya": one clause; an ASCII comma between Chinese characters is a "，"
_QUESTION = re.compile(r"[?？]|\b(?:do|does|did|am|are|is|can|could|would|should|will)\s+i\b|吗|呢|么")
# A question back to the other person after a plain statement ("My favorite color is green, what's
# yours?", "I live in Rome, and you?"): no part of the statement, which is read without it; tried only
# on a clause ending in "?". What it follows must not be asked itself ("Is my favorite color green,
# what's yours?").
_ASKED_BACK = re.compile(
    r",\s*(?:and\s+|so\s+)?(?:(?:what(?:'s|\s+is)|how\s+about|what\s+about|and)\s+(?:you|yours)|you|yours"
    r"|what(?:'s|\s+is)\s+your\s+(?:favou?rite|fave)(?:\s+[a-z]+){0,2})\s*[?？]+$",
    re.I,
)
_ASKED = re.compile(
    r"(?:is|are|am|was|were|do|does|did|can|could|would|should|will|have|has|what|what's|where|who|"
    r"which|when|why|how)\b",
    re.I,
)
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
# Where quoted words were left out, for the rules (no space, so a clause's strip keeps one at its
# end): an object that held them is not said in full ("I love the cover for "Heroes"" names no cover:
# no statement, :func:`_said_object`). One before a clause's first words is cut (_GAP).
_MARK = "\u2063"
_GAP = re.compile(rf"^[\s{_MARK}]+")
_SPACES = re.compile(r"[^\S\n]+")  # a run of spaces of any kind within a line (a line break ends a clause)
_ASIDE = (",", ":", ";", "(", "-", "\u2013", "\u2014")  # what sets off quoted words as an aside
# What hedges the rest of a Chinese sentence, over its "，" (a clause of its own there): "妈妈说，我住在北京",
# "如果明年搬家，我住在上海", "我梦到，我住在火星".
_ZH_HEDGE_FAR = re.compile(r"如果|假如|要是|也许|可能|假设|想象|梦|说|告诉|问|比如|例如")
_SENTENCE_END = re.compile(r"[.!;\n。！；…?？]")
# Hypotheticals and reported speech reach over "and I …" ("If I get the job and I live in Paris");
# a negation only over its own statement ("I don't like tea but I love coffee").
_HEDGE_FAR = re.compile(rf"\b(?:{_HEDGE_WORDS})\b")
# A statement starts its clause, or follows one of these words ("and then I moved to Paris", "Later I
# moved to Paris": what came next), maybe with a comma, up to three of them ("Actually, I live in
# Paris", "Oh, I…", "No, I live in Paris", "Actually no, I…": a restatement or a correction says it
# all the same; "No, I don't live in Paris" states no home: no rule reads "I don't live in"); "now"
# may lead it ("but now I live in Paris", after "I used to live in Rome"): it says the statement
# holds now.
_LEAD = r"and|but|so|also|well|actually|honestly|oh|yes|yeah|ok|okay|no|nope|then|later|eventually|afterwards"
_EN_START = rf"(?:^|\b(?:{_LEAD})(?:,?\s+(?:{_LEAD})){{0,2}},?\s+)(?:(?:right\s+)?now,?\s+)?"
# What may come between "I" and "live in" / "work at" / a taste: "I still live in Paris", "I actually
# work at Acme", "I still don't like tea" (a restatement; "I'm still living in…").
_STILL = r"(?:(?:currently|now|still|actually|really|also|absolutely)\s+){0,2}"
_STOP_OBJECT = re.compile(
    r"^(?:a bit|kind of|sort of|so|very|really|just|not|going|gonna|trying|about|sure|sorry|afraid|"
    r"here|there|back|fine|ok|okay|good|glad|happy|sad|tired|done|ready|looking|thinking|wondering|"
    r"asking|hoping|interested|curious|it|this|that|what|how|why|you|him|her|them|everyone|everything|"
    # negative or empty quantifiers: "I like nothing", "I like no one", "I like neither…" are no taste
    r"nothing|none|nobody|no(?=\s)|neither|nor|anything|anyone|anybody|both|either)\b"
)
# _EN_NEXT starts at no space after a space and _MINE's word at none inside a word: a leftmost
# match never does, so they find the same, and a run of spaces (or letters) is no longer scanned
# again from each of its characters (quadratic).
# Where a clause holds a second statement of the speaker's own ("I like cats and I hate dogs"), or a
# move with no "I" after one ("I moved out of Rome and moved to Paris": _MOVED_ON).
_THEN = r"(?:(?:then|later)\s+)?"  # what came next, before a move with no "I": "and later moved to…"
_EN_NEXT = re.compile(
    rf"(?<!\s)\s+(?:and|&|but)\s+(?=(?:(?:now|then|later),?\s+)?i(?:'m)?\s|{_THEN}{MOVED}\s+to\s)", re.I
)
_MOVED_ON = re.compile(rf"{_THEN}(?={MOVED}\s)", re.I)
_MINE = re.compile(r"(?:(?<!\w)\w+,?\s+)?i\b", re.I)  # a part of a clause that the speaker's "I" starts
# Lower-case words inside a name ("Ana da Silva", "Ludwig van Beethoven").
_NAME_PARTICLES = {
    "da", "de", "del", "della", "di", "do", "dos", "das", "du", "van", "von", "der", "den", "la", "le"
}  # fmt: skip
_NOT_A_NAME = {"i", "i'm", "i've", "i'd", "i'll"}


def _en_rules(bodies: list[tuple[str, str]], before: str = "") -> list[tuple[str, re.Pattern[str]]]:
    """English ``bodies`` (rule, regex) compiled after the start of a statement and ``before``."""
    return [(rule, re.compile(_EN_START + before + body, re.I)) for rule, body in bodies]


# Ends of a home or workplace ("I no longer live in…", memoryd.ingest.leaving): tried first, and
# only when the part holds one of _LEAVING_WORDS (most turns hold none: eight scans saved); said
# after when they were ("Last year I left Google") only on a part that may hold one (said_when:
# trying EN_WHEN first on every such part takes ~20% longer).
_LEAVING_EN = _en_rules(EN_BODIES)
_LEAVING_WHEN_EN = _en_rules(EN_BODIES, EN_WHEN)
_LEAVING_WORDS = ("longer", "more", "moved", "away", "left", "quit", "resign", "stopped")
_EN_RULES = _en_rules(
    [
        ("name", r"(?:my name is|my name's|call me)\s+(?P<x>.+)"),
        ("work", rf"i(?:'m| am)?\s+{_STILL}work(?:ing)?\s+(?:at|for)\s+(?P<x>.+)"),
        ("live", rf"i(?:'m| am)?\s+{_STILL}liv(?:e|ing)\s+in\s+(?P<x>.+)"),
        (
            "dislike",
            rf"i\s+{_STILL}(?:hate|dislike|can't stand|don't like|do not like|no longer like)"
            r"\s+(?P<x>.+)",
        ),
        ("like", rf"i\s+{_STILL}(?P<v>like|love|enjoy|prefer|adore)\s+(?P<x>.+)"),
        ("am", r"(?:i am|i'm)\s+(?P<x>(?:a|an)\s+.+)"),
    ]
)
_MORE_EN = _en_rules(phrasings.EN_BODIES)  # on phrasings.prefilter
# Words (lower case) a part must hold for each rule of _EN_RULES to match it, one of each: a substring
# test before the rule is tried (most parts need none of the six scans). Sound as re.I equates an ASCII
# letter only with its other case and, for i, s and k, with one of _FOLDED, which str.lower() does not
# turn into that letter alone: a part holding one of those tries all six.
_EN_NEEDS = {
    "name": ("my name", "call me"),
    "work": ("work",),
    "live": ("liv",),
    "dislike": ("hate", "like", "can't stand"),
    "like": ("like", "love", "enjoy", "prefer", "adore"),
    "am": ("i am", "i'm"),
}
_FOLDED = ("\u0130", "\u0131", "\u017f", "\u212a")  # İ, dotless ı, long ſ, Kelvin K
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
    ("work", re.compile(_ZH_START + "我(?:现在|目前)?在" + ZH_THING + "(?:上班|工作)")),
    ("live", re.compile(_ZH_START + "我(?:现在|目前)?住在" + ZH_X)),
    (
        "dislike",
        re.compile(_ZH_START + "我(?:很|非常|特别|也|最)?(?:讨厌|不喜欢|不爱|不再喜欢)" + ZH_X),
    ),
    (
        "like",
        re.compile(_ZH_START + "我(?:很|非常|特别|也|最)?(?:喜欢|爱|热爱)" + ZH_X),
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
        if not zh and rule == "left_work" and phrasings.NO_EMPLOYER.match(obj):
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
        if phrasings.NO_EMPLOYER.match(obj):  # "I work at home", "… for myself": where or how, not for whom
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


# The rules to try on a part, by whether it may end a home (said after when: said_when) and which
# phrasings of phrasings it may hold (phrasings.prefilter); made once for each.
_TRIED: dict[tuple[bool, bool, frozenset[str], tuple[str, ...]], list[tuple[str, re.Pattern[str]]]] = {}


def _rules_for(part: str) -> list[tuple[str, re.Pattern[str]]]:
    low = part.lower()
    leaving = any(w in low for w in _LEAVING_WORDS)
    when = leaving and said_when(low)
    more = phrasings.prefilter(part)
    folded = any(ch in part for ch in _FOLDED)
    base = tuple(r for r, needs in _EN_NEEDS.items() if folded or any(w in low for w in needs))
    tried = _TRIED.get((leaving, when, more, base))
    if tried is None:
        ends = (_LEAVING_WHEN_EN if when else _LEAVING_EN) if leaving else []
        tried = _TRIED[leaving, when, more, base] = (
            ends + [(r, p) for r, p in _EN_RULES if r in base] + [(r, p) for r, p in _MORE_EN if r in more]
        )
    return tried


def _said_object(raw: str) -> str | None:
    """``raw`` (an object) without quoted words set off after it ('Paris, "the city of light"':
    Paris); None if quoted words were part of it ('the cover for "Heroes"', 'the idea of a "no phone
    zone"'): what it names is not said."""
    at = raw.find(_MARK)
    if at < 0:
        return raw
    before = raw[:at].rstrip()
    return before[:-1] if before[-1:] in _ASIDE and before[:-1].strip() else None


def _english_part(clause: str, start: int, end: int, at: datetime, subject: str = "") -> Statement | None:
    part = subject + clause[start:end]
    for rule, pattern in _rules_for(part):
        found = pattern.search(part)
        if found is None:
            continue
        if _HEDGE_FAR.search(clause[:start].lower()) or _HEDGE.search(part[: found.start()].lower()):
            return None
        raw = _said_object(found.group("x"))
        if raw is None:
            return None
        if reported_after(raw) or hedged_after(raw):  # "I love cats, she said", "…, I think"
            return None
        obj = clean_object(taste_object(raw) if rule in ("like", "dislike") else raw)
        if obj is None or _STOP_OBJECT.match(obj.lower()) or _HEDGE.search(may_unhedged(obj, at).lower()):
            return None
        if rule not in ("like", "dislike") and later(obj, at):
            return None  # "I live in Rome starting next year": not where the user lives now
        if rule in _LEFT_KIND and no_end(found, obj, at):
            return None  # "Tonight I left Target": that place, that day; "In 2030 I left Google"
        if rule in phrasings.PHRASED:  # more phrasings ("I moved to Lisbon"): memoryd.ingest.phrasings
            said = phrasings.phrased(rule, obj, found, at, zh=False)
            return None if said is None else Statement(*said)
        if rule in ("work", "live", *_LEFT_KIND):
            obj = own_words(obj)  # "Berlin, in two weeks I fly to Rome": Berlin
        if rule in ("like", "dislike") and re.match(r"(?i)to\b", obj):
            return None  # "I like to think…", "I hate to say it", "Yeah, I love to.": intentions, not tastes
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


def _unasked(clause: str) -> str:
    """``clause`` without a question back to the other person after it (:data:`_ASKED_BACK`), unless
    it is asked itself; else as it is."""
    if clause[-1:] not in ("?", "？") or (back := _ASKED_BACK.search(clause)) is None:
        return clause
    said = clause[: back.start()].strip()
    return clause if _ASKED.match(said) else said


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


_MOVE_RULES = ("live", "moved_out")  # what a move states: a home, or the end of one


def _rest_of_sentence(text: str, end: int) -> str:
    """What follows ``text[:end]`` (a clause) in its sentence."""
    edge = _SENTENCE_END.search(text, end)
    return text[end : len(text) if edge is None else edge.start()]


def _undone(rule: str, clause: str, text: str, end: int, moves: bool) -> bool:
    """Whether a home or the end of one, said in ``clause`` (``text[:end]``), is undone by what
    follows it in its sentence (:func:`phrasings.undone`) or, a Chinese home in a turn that speaks of
    a move (``moves``), by the sentence after it ("我住在北京。后来又搬走了。": phrasings.left_next)."""
    rest = _rest_of_sentence(text, end)
    if phrasings.undone(clause, rest):
        return True
    return moves and rule == "live" and phrasings.left_next(clause, text[end + len(rest) :])


def extract_statements(text: str, role: str | None = "user", at: datetime | None = None) -> list[Statement]:
    """The explicit self-statements in one message (only user messages; never raises), said at
    ``at`` (default: now): "from 2019" said in 2024 is now, not a plan."""
    at = at or datetime.now(UTC)
    if role not in (None, "user") or not isinstance(text, str):
        return []
    # quoted words left out, marked where they were (_MARK); "I’m" as phones type it
    text = straight_apostrophes(_QUOTED.sub(f" {_MARK} ", text[:_MAX_MESSAGE_CHARS].replace(_MARK, " ")))
    text = _SPACES.sub(" ", text)  # "My  name is", "I\u00a0am" (a no-break space) read as typed plainly
    if "我" not in text and _EN_ANY.search(text) is None:
        return []  # every rule needs one of these (clause edges add no word boundary)
    if "我" not in text and "搬" not in text and not _rules_for(text):
        # English only, and no rule may match it: what _rules_for tries on a part of it (a clause or
        # a piece of one; "I " + a move only when it holds "moved") it tries on all of it
        return []
    out: list[Statement] = []
    seen: set[str] = set()
    moves = "搬" in text  # a Chinese move may leave out its subject, the speaker's (phrasings.zh_own_move)
    before, last = "", 0  # the clause before in its sentence, and where it ended
    try:
        edges = [(m.start(), m.end()) for m in _CLAUSES.finditer(text)]
        for start, end in zip([0, *(e for _, e in edges)], [*(b for b, _ in edges), len(text)], strict=True):
            if moves and _SENTENCE_END.search(text, last, start) is not None:
                before = ""  # another sentence
            last = end
            clause = _unasked(_GAP.sub("", text[start:end]).strip())
            if not clause or _QUESTION.search(clause.lower()):
                before = ""
                continue
            if moves and "我" not in clause:  # "我住在北京，后来又搬到了上海": 我搬到了上海
                clause = phrasings.zh_own_move(clause, before) or clause
            before = clause
            if "我" in clause:
                not_now = zh_hedged_before(text, start) or _zh_not_now(text, start, end)
                zh = None if not_now else _chinese(clause)
                found = [] if zh is None else [zh]
            else:
                found = _english(clause, at)
            for statement in found:
                if statement.rule in _MOVE_RULES and _undone(statement.rule, clause, text, end, moves):
                    continue  # "去年我搬到了杭州，今年又搬回了北京", "I moved out of Rome, but I came back"
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
            if (home := timeline_of(memory)) is not None:  # what it ends may be said again after it
                on = lines.setdefault(home, [])
                for gone in [h for h in on if replaces(memory, seen[h])]:
                    del seen[gone]
                    on.remove(gone)
                on.append(digest)
            seen[digest] = memory
    return out


def draft_all_rules(episodes: Sequence[MemoryRecord], now: datetime) -> list[RuleMemory]:
    """Fast-mode rule drafts (profile, preferences, assistant feedback) of new episodes; pure."""
    from memoryd.hierarchy.feedback import draft_feedback_memories

    return draft_rule_memories(episodes, now) + draft_feedback_memories(episodes, now)
