"""Statements that end the user's home or workplace, for fast mode's rules (:mod:`memoryd.ingest.rules`):
"I no longer live in Rome", "I don't live in Rome anymore", "I moved out of Rome", "I no longer work at
Acme", "I left Acme", "I quit my job at Acme", "我不再住在罗马", "我已经不在谷歌工作了".

Such a statement is a profile memory on the home's (workplace's) timeline ("The user no longer lives
in Rome."), with the place it ends under :data:`LEFT` in its metadata: laid on the timeline like a
new home, it ends the current one, kept for ``as_of`` with a SUPERSEDE in its history. It is stored
only when the home current just before it is the place it names, as a whole name (:func:`ends`):
"I moved out of Milan" said while the user lives in Rome, or "I left London" while they work at
Google London, change nothing. When it ended, said after the place, is no part of it ("I left
Google last year": Google); said before "I" (in Chinese also right after 我), it does not stop the
statement ("Yesterday I quit Google", "Last year I left Google", "昨天我从谷歌辞职了", "我昨天从谷歌
辞职了": :data:`WHEN_BEFORE`, :data:`ZH_I`), but "I left <Name>" after a time of day or a day
("Tonight I left Target", "Yesterday I left Starbucks") is leaving a place, not a job, and an end
in a year still to come ("In 2030 I left Google") is none (:func:`no_end`). "I left X" names an
employer only written capitalised, and not "I left for work", "I left the party early", "I quit
smoking", "I left my keys": those state nothing. A
"don't … anymore" is needed ("I don't live in Rome" alone may correct, not end), and what follows
"anymore" is guarded as the rest of a statement ("… anymore, my mom says", "… anymore starting
next month", "… any more than you do" state nothing). Another speaker's ends are read the same
way, on their timelines (:mod:`memoryd.ingest.subjects`). Pure:
no I/O.
"""

from __future__ import annotations

import re
from datetime import datetime

from memoryd.ingest.later import MONTH_NAMES, WEEKDAYS
from memoryd.models import MemoryRecord

__all__ = [
    "ANYMORE",
    "COUNTS",
    "ENDED_ANYMORE",
    "I_AM",
    "I_HAVE",
    "EN_BODIES",
    "EN_WHEN",
    "LEFT",
    "WHEN_BEFORE",
    "ZH_BODIES",
    "ZH_I",
    "ZH_THING",
    "ZH_X",
    "ZH_WHEN",
    "ends",
    "no_end",
    "not_yet",
    "place",
    "said_when",
    "year_said",
]

LEFT = "left"  # the metadata key of the place an ending statement names
# "anymore" after what ended, and what follows it in the object, that the rules' guards read too
# ("Rome anymore, my mom says", "… anymore starting next month"); not "any more than" (an idiom).
# Its spaces are taken whole (\s++): "any" starts with no space, so the same strings match.
_ANY_MORE = r"any\s?more\b(?!\s+than\b)"
ANYMORE = rf"\s++{_ANY_MORE}.*"
# The spaces before what ended and it, up to "anymore" (" Rome anymore" of "I don't live in Rome
# anymore"): what \s+(?P<x>.+?{ANYMORE}) matches, which split a run of spaces every way, before and in
# x, and took cubic time on one before no "anymore" (2,000 spaces: minutes). The spaces are taken
# whole unless "anymore" follows them (x may then start in them, as before), and x ends after its
# first character or a non-space only (an end later in a run of spaces is never the first one).
ENDED_ANYMORE = rf"(?:\s++|(?=\s++{_ANY_MORE})\s+)(?P<x>.(?:.*?\S)??{ANYMORE})"
# A count in words ("two years ago") and what it counts (phrasings._COUNT reads them too).
COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
COUNTS |= {"seven": 7, "eight": 8, "nine": 9, "ten": 10}
_N = rf"(?:\d+|{'|'.join(COUNTS)}|a few|a couple of|several|many)"
_SEASON = r"(?:spring|summer|autumn|fall|winter)"
_MONTHS = rf"(?:{'|'.join(MONTH_NAMES)})"
_DAYS = WEEKDAYS
# A time of day or a day: said before "I left <Name>", that place was left that day, no job ("Tonight
# I left Target", "This morning I left Starbucks"); "quit", "resigned from" and a week or more still end.
_DAY_TIME = (
    r"yesterday|today|tonight|earlier\s+today|this\s+(?:morning|afternoon|evening)"
    rf"|(?:earlier\s+)?(?:last|this)\s+(?:night|weekend|{_DAYS})|on\s+{_DAYS}|{_N}\s+days?\s+ago"
)
# When a move or an end was, said before "I" ("Yesterday I quit Google", "Last year, I moved to…"):
# a day (above) or a longer time now or past, no hedge; it does not stop the statement.
# Case-insensitive where compiled.
WHEN_BEFORE = (
    rf"(?:{_DAY_TIME}|recently|(?:earlier\s+)?(?:last|this)\s+(?:week|month|year|{_SEASON}|{_MONTHS})"
    rf"|in\s+(?:[a-z]+\s+)?\d{{4}}|{_N}\s+(?:weeks?|months?|years?)\s+ago)"
)
EN_WHEN = rf"(?:(?P<t>{WHEN_BEFORE}),?\s+)?"  # before one of EN_BODIES (on a part said_when passes), a move
# Words one of WHEN_BEFORE needs (lower case), or a digit: a cheap test before it is tried.
_WHEN_KEYS = ("day", "night", "last", "this", "ago", "recent", "earlier")
# Chinese: 昨天, 去年… right before "我" (no "，": "去年，我住在罗马" is then, rules._ZH_NOT_NOW).
ZH_WHEN = r"(?:昨天|前天|今天|今年|去年|前年|上个?月|这个?月|上个?(?:星期|礼拜)|上周|这周|最近|刚才)"
ZH_WHEN_BEFORE = ZH_WHEN + "?"
# The speaker's "我" of a move or an end, with when it was before or after it (去年我…, 我去年…).
ZH_I = ZH_WHEN_BEFORE + "我" + ZH_WHEN_BEFORE
I_HAVE = r"i(?:'ve|\s+have)?\s+"  # the speaker's "I", "I've", "I have" before what they did
I_AM = r"(?:i\s+am|i'm)\s+"  # … and "I am", "I'm"
_I_HAVE_JUST = I_HAVE + r"(?:just\s+)?"
_LEFT = _I_HAVE_JUST + r"(?:left|quit|resigned\s+from)"
_NO_LONGER = r"i(?:'m| am)?\s+no\s+longer\s+"  # "I no longer live…", "I'm no longer working…"
_DONT = r"i\s+(?:don't|do\s+not|dont)\s+"  # "I don't live in … anymore"
# Words after "I left" that name no employer, even capitalised ("I left Home"), unless a name goes on
# ("I left Home Depot")
_NOT_EMPLOYER = r"(?:i|it|my|our|his|her|their|your|for|home|work|school|town|early|late)"
# English, after the start of a statement (rules._EN_START) and maybe when it was (EN_WHEN); compiled
# there, case-insensitive.
EN_BODIES: list[tuple[str, str]] = [
    ("moved_out", _NO_LONGER + r"liv(?:e|ing)\s+in\s+(?P<x>.+)"),
    ("moved_out", rf"{_DONT}live\s+in{ENDED_ANYMORE}"),
    ("moved_out", rf"{I_AM}not\s+living\s+in{ENDED_ANYMORE}"),
    ("moved_out", _I_HAVE_JUST + r"moved\s+(?:out\s+of|away\s+from)\s+(?P<x>.+)"),
    ("left_work", _NO_LONGER + r"work(?:ing)?\s+(?:at|for)\s+(?P<x>.+)"),
    ("left_work", rf"{_DONT}work\s+(?:at|for){ENDED_ANYMORE}"),
    ("left_work", rf"{I_AM}not\s+working\s+(?:at|for){ENDED_ANYMORE}"),
    (
        "left_work",
        rf"{_LEFT}\s+(?:my\s+(?:job|position|role)\s+(?:at|with)\s+|working\s+(?:at|for)\s+)(?P<x>.+)",
    ),
    ("left_work", _I_HAVE_JUST + r"stopped\s+working\s+(?:at|for)\s+(?P<x>.+)"),
    # "I left Acme", "I left the Bank of England": a name, written capitalised; not "I left for work",
    # "I left the party early", "I quit smoking", "I left my keys"
    (
        "left_work",
        rf"{_I_HAVE_JUST}(?:(?P<bare>left)|quit|resigned\s+from)\s+"
        rf"(?P<x>(?:the\s+)?(?!{_NOT_EMPLOYER}\b(?!\s+(?-i:[A-Z])))(?-i:[A-Z0-9]).+)",
    ),
]
# What a Chinese statement is about: up to 30 characters of its clause, as many as may be (ZH_X) or as
# few as the words after it allow (ZH_THING).
ZH_X = r"(?P<x>[^，,。！？\s]{1,30})"
ZH_THING = r"(?P<x>[^，,。！？\s]{1,30}?)"
# Chinese, after the start of a statement (rules._ZH_START): "不再" (no longer), "已经不" (already
# not), or "不…了" (not any more); a move out or a resignation may follow when it was (昨天, 去年).
ZH_BODIES: list[tuple[str, str]] = [
    ("moved_out", r"我(?:已经不再|已经不|不再)住在" + ZH_X),
    ("moved_out", r"我不住在(?P<x>[^，,。！？\s]{1,30}了)"),
    ("moved_out", ZH_I + r"(?:已经)?搬离了?" + ZH_X),
    ("moved_out", rf"{ZH_I}(?:已经)?从{ZH_THING}搬走了"),
    ("left_work", rf"我(?:已经不再|已经不|不再)在{ZH_THING}(?:上班|工作)"),
    ("left_work", rf"我不在{ZH_THING}(?:上班|工作)了"),
    ("left_work", rf"{ZH_I}(?:已经)?从{ZH_THING}辞职了?"),
]

# What a home or workplace states before its place: the rules' "The user lives in " ("用户住在"), or
# (fine mode's words) any text up to a verb of living or working there.
_OWN = re.compile(r"^(?:the user|用户)\s*(?:lives in|works (?:at|for)|住在|在)\s*", re.I)
_FREE = re.compile(
    r"\b(?:lives?|living|resides?|based|located|works?|working|employed)\s+(?:in|at|for|by)\s+(?P<p>.+)", re.I
)
# _FREE_END and _WHEN_SAID start at no space after a space: a leftmost match never does, so they
# find the same, and a run of spaces is no longer scanned again from each of its characters.
_FREE_END = re.compile(
    r"(?<!\s)\s+(?:since|with|as|where|from|while|until|because|and\s+(?:is|has|was))\b|[;(]", re.I
)
_ARTICLE = re.compile(r"^the\s+")
_TRAIL = re.compile(r"(?:工作|上班)?[\s.,:;!?'\"“”‘’。！？；，、…]+$|(?:工作|上班)$")
# When the end was, said after the place: no part of it ("I left Google last year": Google).
_WHEN_SAID = re.compile(
    rf",?(?<!\s)\s+(?:(?:last|this|earlier\s+this|late\s+last|early\s+last)\s+"
    rf"(?:year|month|week|weekend|night|{_SEASON}|"
    rf"{_MONTHS}|{_DAYS})|(?:back\s+)?in\s+(?:(?:early|late|mid)[\s-]+)?(?:{_MONTHS}|{_SEASON})?\s*\d{{4}}"
    rf"|in\s+(?:(?:early|late|mid)[\s-]+)?(?:{_MONTHS}|the\s+{_SEASON}|{_SEASON})|on\s+{_DAYS}"
    rf"|(?:about\s+|almost\s+|over\s+)?{_N}\s+(?:days?|weeks?|months?|years?)\s+ago|(?:a\s+(?:while|bit)|ages|long)\s+ago"
    r"|recently|yesterday|today|tonight|this\s+morning|finally|already|for\s+good|at\s+last|now|anymore|any\s+more)$",
    re.I,
)


_A_DAY = re.compile(_DAY_TIME, re.I)
_FIRST_YEAR = 1900
_AT_YEAR = re.compile(rf"\bin\s+(?:(?P<m>{_MONTHS})\s+)?(?P<y>\d{{4}})\b", re.I)


def year_said(text: str) -> tuple[int, int] | None:
    """The year and month (0 for none) that "in 2019" or "in March 2019" in ``text`` names; None if none."""
    found = _AT_YEAR.search(text)
    if found is None:
        return None
    return int(found["y"]), MONTH_NAMES.index(found["m"].lower()) + 1 if found["m"] else 0


def not_yet(year: tuple[int, int], at: datetime) -> bool:
    """Whether ``year`` (:func:`year_said`), said at ``at``, is no time of the user's past or present:
    still to come (a plan), or before 1900."""
    return year[0] < _FIRST_YEAR or year > (at.year, at.month)


def no_end(found: re.Match[str], obj: str, at: datetime) -> bool:
    """Whether an end ``found`` (one of :data:`EN_BODIES`, maybe after :data:`EN_WHEN`), its object
    ``obj``, said at ``at``, ends nothing for when it says it was: a year still to come ("In 2030 I
    left Google", "I left Google in 2030"), or "I left <Name>" on a day ("Tonight I left Target")."""
    when = " ".join((found.groupdict().get("t") or "").split())
    if any((year := year_said(text)) is not None and not_yet(year, at) for text in (when, obj)):
        return True
    return found.groupdict().get("bare") is not None and _A_DAY.fullmatch(when) is not None


def said_when(low: str) -> bool:
    """Whether lower-case ``low`` may hold a :data:`WHEN_BEFORE` (substring tests: cheaper than it)."""
    return any(key in low for key in _WHEN_KEYS) or any(ch.isdigit() for ch in low)


def place(obj: str) -> str:
    """The place an ending statement names, without when it ended said after it ("Google last
    year", "Rome in 2019", "Acme two years ago", "Rome recently" are Google, Rome, Acme, Rome)."""
    text = obj.strip()
    while (when := _WHEN_SAID.search(text)) is not None and when.start() > 0:
        text = text[: when.start()].rstrip(" ,")
    return text or obj


def _norm(text: str) -> str:
    return _ARTICLE.sub("", _TRAIL.sub("", " ".join(text.split()).casefold()))


def _held(before: MemoryRecord) -> str:
    """The place a home or workplace names: its text after "The user lives in" (another speaker's,
    after their name: "Melanie lives in Rome."), or after a verb of living or working there."""
    text = before.text.strip()
    subject = before.metadata.get("subject")
    if isinstance(subject, str) and subject and text.startswith(subject):
        text = "The user" + text[len(subject) :]
    if (own := _OWN.match(text)) is not None:
        return text[own.end() :]
    if (free := _FREE.search(text)) is not None:
        return _FREE_END.split(free["p"], maxsplit=1)[0]
    return text


def _head(name: str) -> str:
    return name.split(",")[0].strip()


def ends(new: MemoryRecord, before: MemoryRecord | None, *, its_own_line: bool = False) -> bool:
    """Whether ``new``, an ending statement (:data:`LEFT` in its metadata), ends ``before``, the
    memory current on its timeline just before it: a home or workplace (not another ending) whose
    place is the one ``new`` names, as a whole name (case, a leading "the" and the punctuation
    after it aside), or a part before a comma of one of them ("Rome" ends "Rome, Italy"; "Rome,
    Italy" ends "Rome"). A place that only holds it is another: "London" does not end "Google
    London", nor "school" "Lincoln High School", nor 家 (home) 家乐福. On a timeline of one thing
    (``its_own_line``: a diet's, an allergy's), ``before`` is the thing named."""
    if before is None or LEFT in before.metadata:
        return False
    said = _norm(place(str(new.metadata.get(LEFT, ""))))
    if before.valid_to is not None and before.valid_to <= new.valid_from or not said:
        return False
    if its_own_line:
        return True
    held = _norm(_held(before))
    return said == held or said == _head(held) or _head(said) == held
