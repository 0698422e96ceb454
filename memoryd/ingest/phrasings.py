"""More everyday phrasings of self-statements for fast mode's rules (:mod:`memoryd.ingest.rules`).

- a move: "I moved to Lisbon last month", "I've just moved to Berlin", "I relocated to Madrid",
  "我搬到了杭州": the home, as "I live in …" states it ("The user lives in Lisbon.", rule ``live``).
  Only a past move to a capitalised place (a plan, "I'm moving to…", "I will move to…", is not
  read; nor "I moved to a new flat"). A year it names ("in 2019", "in March 2019", "three years
  ago") is when the home began (:attr:`~memoryd.ingest.rules.Statement.since`), on the home's
  timeline: a home stored as said later stays current; a year still to come is not read.
- an occupation: "I work as a nurse", "I'm working as a teacher": "The user is a nurse." (rule
  ``identity``, as "I'm a nurse"), the role only ("a waiter until I find something better" is a
  waiter; "I work as a team" names none); a diet: "I'm vegetarian", "I'm vegan": "The user is vegan.".
- a favourite: "My favourite food is bacalhau", "我最喜欢的食物是饺子": an explicit preference
  ("The user's favourite food is bacalhau.", rule ``favourite``, ``metadata.favourite`` its
  category), one per category at a time: a later one of the category ends it (:func:`favourite_line`).
  Only a plain answer naming one thing is one ("green, what's yours" is green): a hedge or a
  non-answer ("probably sushi", "hard to pick", "a tie between…"), a clause, a description of the
  favourite thing ("super soft", "actually a mystery writer") or a past one (以前是) is none, and
  ends none.
- an allergy: "I'm allergic to peanuts", "我对花生过敏": a profile memory ("The user is allergic to
  peanuts.", attribute ``allergy``); allergies add up. A figure of speech ("allergic to Mondays",
  "to the idea of…", "to running") is none.

The rules' guards hold for these as for the others (questions, hedges, quotes, reported speech,
other speakers, other times). Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from memoryd.ingest.objects import allergen, favourite_answer, occupation
from memoryd.models import MemoryKind, MemoryRecord

__all__ = ["EN_BODIES", "PHRASED", "ZH_BODIES", "favourite_line", "line_filter", "phrased", "prefilter"]

FAVOURITE = "favourite:"  # a favourite's timeline, before its category (a home's: its attribute)
_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_DIETS = ("vegetarian", "vegan", "pescatarian", "pescetarian", "flexitarian")

_COUNT = r"(?:\d{1,2}|a|an|one|two|three|four|five|six|seven|eight|nine|ten)"
# When a move was, said before it ("Last year I moved to…", "In 2019, I moved to…").
_WHEN = (
    r"(?:(?P<t>(?:last|this)\s+(?:year|month|week|spring|summer|autumn|fall|winter)|in\s+(?:[a-z]+\s+)?\d{4}|"
    rf"{_COUNT}\s+(?:years?|months?|weeks?)\s+ago|recently),?\s+)?"
)
# English, after the start of a statement (rules._EN_START); compiled there, case-insensitive.
EN_BODIES: list[tuple[str, str]] = [
    (
        "move",
        _WHEN + r"i(?:'ve|\s+have)?\s+(?:just\s+|recently\s+|finally\s+|now\s+)?(?:moved|relocated)\s+"
        r"(?:back\s+|over\s+)?to\s+(?P<x>.+)",
    ),
    ("work_as", r"i(?:'m|\s+am)?\s+(?:currently\s+|now\s+)?work(?:ing)?\s+as\s+(?P<x>(?:a|an)\s+.+)"),
    ("favourite", r"my\s+(?P<v>favou?rite)\s+(?P<c>[a-z]+(?:\s+[a-z]+)?)\s+is\s+(?P<x>.+)"),
    ("allergy", r"(?:i\s+am|i'm)\s+(?:very\s+|severely\s+|quite\s+|mildly\s+)?allergic\s+to\s+(?P<x>.+)"),
    ("diet", rf"(?:i\s+am|i'm)\s+(?:(?:a|strictly|fully)\s+)?(?P<x>(?:{'|'.join(_DIETS)})\b.*)"),
]
_ZH_X = r"(?P<x>[^，,。！？\s]{1,30})"
_ZH_MOVED = r"我(?:刚刚?|已经|最近|终于)?搬(?:到|去)了"
# Chinese, after the start of a statement (rules._ZH_START): before "我…喜欢" (the like rule).
ZH_BODIES: list[tuple[str, str]] = [
    ("move", _ZH_MOVED + _ZH_X),  # 我搬到了杭州
    ("move", r"我(?:刚刚?|已经|最近|终于)?搬(?:到|去)(?P<x>[^，,。！？\s]{1,30}?)了"),  # 我搬到杭州了
    ("favourite", r"我最(?:喜欢|爱)的(?P<c>[^，,。！？\s的]{1,6})是" + _ZH_X),
    ("allergy", r"我对(?P<x>[^，,。！？\s]{1,30}?)(?:有点|有些|很|非常|特别|严重)?(?<![不没])过敏"),
]
PHRASED = {rule for rule, _ in EN_BODIES + ZH_BODIES}
# Words one of the English bodies above needs (lower case): a cheap test before any of them is tried.
_KEYS = ("moved", "relocated", " as ", "favo", "allergic", "veg", "tarian")


def prefilter(part: str) -> bool:
    """Whether one of :data:`EN_BODIES` may match ``part`` (substring tests: cheaper than a regex)."""
    low = part.lower()
    return any(key in low for key in _KEYS)


# Capitalised words after "moved to" that name no place: software, services, teams.
_NO_PLACE = {
    "linux", "windows", "mac", "macos", "ios", "android", "iphone", "python", "rust", "go", "java",
    "typescript", "kotlin", "swift", "spotify", "notion", "obsidian", "slack", "teams", "aws", "gcp",
    "azure", "kubernetes", "vim", "neovim", "emacs", "vs", "github", "gitlab", "marketing", "sales",
    "engineering", "finance", "hr", "support", "legal", "operations", "product", "design", "management",
}  # fmt: skip
_PARTICLES = {"de", "da", "do", "del", "di", "du", "la", "le", "of", "upon", "am", "im"}
_ZH_TO_DO = re.compile(r"(?:工作|上班|上学|读书|生活|居住|定居|住)$")
_ZH_NO_PLACE = re.compile(r"^(?:新|这|那|一个|一间|隔壁|楼|别的|另)")
_AT_YEAR = re.compile(rf"\bin\s+(?:(?P<m>{'|'.join(_MONTHS)})\s+)?(?P<y>\d{{4}})\b", re.I)
_AGO = re.compile(rf"\b(?P<n>{_COUNT})\s+(?P<u>year|month|week)s?\s+ago\b", re.I)
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_NUMBERS |= {"seven": 7, "eight": 8, "nine": 9, "ten": 10}
_DAYS = {"year": 365, "month": 30, "week": 7}

Said = tuple[str, MemoryKind, str, dict[str, Any], datetime | None]  # text, kind, rule, metadata, since


def phrased(rule: str, obj: str, found: re.Match[str], at: datetime | None, zh: bool) -> Said | None:
    """The statement one of :data:`EN_BODIES` / :data:`ZH_BODIES` reads, its object ``obj`` (cleaned
    and in the third person), said at ``at``; None if it reads none."""
    if rule == "move":
        return _zh_move(obj) if zh else _move(obj, found.group("t") or "", at or datetime.now(UTC))
    if rule == "work_as":
        role = occupation(obj)  # "a waiter until I find…": a waiter; "a team": none
        return None if role is None else _profile(f"The user is {role}.", "identity", "identity")
    if rule == "diet":
        if obj.lower() not in _DIETS:
            return None  # "I'm vegan food obsessed", "I'm vegetarian for a month"
        return _profile(f"The user is {obj.lower()}.", "identity", "identity")
    if rule == "favourite":
        return _zh_favourite(found["c"], obj) if zh else _en_favourite(found, obj)
    if rule == "allergy":
        thing = obj if zh else allergen(obj)  # "I'm allergic to Mondays": a figure of speech
        if thing is None:
            return None
        text = f"用户对{thing}过敏。" if zh else f"The user is allergic to {thing}."
        return _profile(text, "allergy", "allergy")
    return None


def _profile(text: str, rule: str, attribute: str, since: datetime | None = None) -> Said:
    return text, MemoryKind.PROFILE, rule, {"attribute": attribute}, since


def _favourite(category: str) -> tuple[MemoryKind, str, dict[str, Any], None]:
    meta = {"preference": "explicit", "polarity": "like", "favourite": category}
    return MemoryKind.PREFERENCE, "favourite", meta, None


# Said after a favourite's category: when it holds ("My favourite food now is", "…ever is"): now.
_FAVOURITE_NOW = re.compile(r"\s+(?:now|currently|ever|these\s+days|right\s+now|of\s+all\s+time)$")
_ZH_NOW = re.compile(r"(?:现在|目前|如今)$")
# A Chinese favourite's category holding a past (以前, 曾经: "used to be"), a hedge or an adverb:
# no present favourite ("我最喜欢的食物以前是饺子").
_ZH_NOT_NOW = re.compile(
    r"以前|曾经|过去|从前|原来|本来|之前|小时候|当年|"
    r"应该|大概|估计|一直|其实|可能|也许|[还就都也]$"
)


def _en_favourite(found: re.Match[str], obj: str) -> Said | None:
    """A favourite ("My favourite food is bacalhau"), if what follows "is" names one thing
    (:func:`~memoryd.ingest.objects.favourite_answer`)."""
    thing = favourite_answer(obj, found["x"])
    if thing is None:
        return None  # "hard to pick", "probably sushi": no favourite stated, none ended
    word, category = found["v"].lower(), _FAVOURITE_NOW.sub("", " ".join(found["c"].lower().split()))
    return f"The user's {word} {category} is {thing}.", *_favourite(category.replace("colour", "color"))


def _zh_favourite(category: str, obj: str) -> Said | None:
    """A favourite (我最喜欢的食物是饺子); none for a past one (以前是); "我妈妈" as 用户的妈妈."""
    category = _ZH_NOW.sub("", category)
    if not category or _ZH_NOT_NOW.search(category) or _ZH_NOT_NOW.match(obj):
        return None
    obj = re.sub(r"^我的?", "用户的", obj)
    return f"用户最喜欢的{category}是{obj}。", *_favourite(category)


def _zh_move(obj: str) -> Said | None:
    obj = _ZH_TO_DO.sub("", obj)  # 我搬到了杭州工作: 杭州
    return None if not obj or _ZH_NO_PLACE.match(obj) else _profile(f"用户住在{obj}。", "live", "location")


def _move(obj: str, when: str, at: datetime) -> Said | None:
    """A move's home: the place's name (capitalised words) at the start of ``obj``, and when the
    move was if ``obj`` or ``when`` (said before "I moved") names a year or how long ago; None for
    no place, or a move still to come."""
    words = obj.split()
    place: list[str] = []
    for i, word in enumerate(words):
        bare = word.rstrip(",.")
        joins = bare.lower() in _PARTICLES and bool(place) or bare.lower() == "the"
        if not (bare[:1].isupper() or joins and i + 1 < len(words) and words[i + 1][:1].isupper()):
            break
        place.append(word)
    home = " ".join(place).rstrip(",.")
    if not home or any(ch.isdigit() for ch in home):
        return None
    if {w.lower().rstrip(",") for w in home.split()} & _NO_PLACE:
        return None  # "I moved to Linux", "I moved to Marketing"
    rest = f"{when} {obj[len(' '.join(place)) :]}"
    since: datetime | None = None
    if (year := _AT_YEAR.search(rest)) is not None:
        month = _MONTHS.index(year["m"].lower()) + 1 if year["m"] else 1
        if (int(year["y"]), month) > (at.year, at.month):
            return None  # "moved" to a place in a year still to come: not where the user lives now
        since = datetime(int(year["y"]), month, 1, tzinfo=UTC)
    elif (ago := _AGO.search(rest)) is not None:
        n = int(ago["n"]) if ago["n"].isdigit() else _NUMBERS[ago["n"].lower()]
        since = at - timedelta(days=n * _DAYS[ago["u"].lower()])
    return _profile(f"The user lives in {home}.", "live", "location", since)


def favourite_line(m: MemoryRecord) -> str | None:
    """The timeline a favourite the rules wrote is on beside its owner (one per category); else None."""
    category = m.metadata.get("favourite")
    if m.kind is not MemoryKind.PREFERENCE or m.metadata.get("rule") != "favourite" or not category:
        return None
    return FAVOURITE + str(category)


def line_filter(line: str) -> dict[str, Any]:
    """What selects the stored memories on a profile attribute's or a favourite's timeline."""
    if line.startswith(FAVOURITE):
        category = line[len(FAVOURITE) :]
        return {"kind": "preference", "metadata.favourite": category, "metadata.rule": "favourite"}
    return {"kind": "profile", "metadata.attribute": line}
