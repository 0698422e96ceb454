"""Whether a profile statement's object says it starts later than when it was said (fast mode's
rules, :mod:`memoryd.ingest.rules`): "I live in Rome starting next year", "… from January", "… as
of next week", "I work at Google starting Monday", "I'm a nurse next month", "… in two weeks",
"… soon" are plans, not how things are now. Pure: no I/O.

Only the object's own words are read, cut where another clause starts ("I live in Berlin, in two
weeks I fly to Rome", "I work at Google and start a new project tomorrow": Berlin and Google are
now), and a phrase of its own after a comma that is only a time (", starting next year", ", as of
January 2020"). What comes after "until" is when a present one ends ("I work at Acme until next
year"). A year is later only after the year it was said in ("from 2019" said in 2024 is now); a
range of days or months is a schedule ("from Monday to Friday", "from March to October"). The time
words are lower case, whole words ("I work at Soon Labs", "Tomorrow.io", "I live in Tomorrowland",
"Next Year Inc" are names); only a day's or a month's name is written capitalised.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["MONTH_NAMES", "WEEKDAYS", "later", "may_unhedged", "object_span", "own_words"]

WEEKDAYS = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"  # a day's name, as a pattern
MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_DAY = rf"(?i:{WEEKDAYS})"
_MONTH = rf"(?i:{'|'.join(MONTH_NAMES)})"
_WORD_END = r"(?![\w'’-]|\.\w)"  # a whole word: not "Tomorrowland", "Tomorrow.io", "next year's"
_LATER = re.compile(
    # "starting/from/as of" a time: a month (and year), a year, next…, a day, "the 1st", "in May"
    r"\b(?:starting|beginning|from|as of|effective)\s+(?:"
    rf"(?P<month>{_MONTH})(?:,?\s+(?P<month_year>\d{{4}}))?{_WORD_END}|(?P<year>\d{{4}}){_WORD_END}|"
    rf"(?:the\s+)?next\b|tomorrow{_WORD_END}|this coming\b|(?:early|mid|late)\b|"
    rf"the (?:start|beginning|middle|end) of\b|in\b|(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)\b|{_DAY}{_WORD_END})"
    # a time to come on its own: "next year", "tomorrow", "soon", "in 2 weeks"
    r"|\bnext (?:week|month|year|spring|summer|autumn|fall|winter|term|semester|season|"
    rf"{_DAY}|{_MONTH}){_WORD_END}|\btomorrow{_WORD_END}|(?<!as )\bsoon{_WORD_END}|\blater (?:this|next|on)\b"
    rf"|\bin the (?:near )?future\b|\bin (?:a|an|one|two|three|four|five|six|a few|a couple of|\d+) "
    rf"(?:days?|weeks?|months?|years?){_WORD_END}"
)
# A schedule: when it holds each week or year, not when it starts.
_SCHEDULE = re.compile(
    rf"\bfrom\s+(?:{_DAY}|{_MONTH})s?\s+(?:to|through|thru|till|until|til|-|–)\s+(?:{_DAY}|{_MONTH})s?{_WORD_END}"
)
_UNTIL = re.compile(r"\s(?:until|till|til)\s", re.I)
# _CLAUSE starts at no space after a space: a leftmost match never does, so it finds the same, and
# a run of spaces is no longer scanned again from each of its characters (quadratic).
# Where another clause takes over inside an object: a conjunction before a lower-case word ("and
# start a new project"; "Procter and Gamble" is one name).
_CLAUSE = re.compile(
    r"(?<!\s)\s+(?:and|but|or|while|whereas|though|because|since|when|where|so|then)\s+(?=[a-z])"
    r"|(?:(?<!\s)\s+)?;\s*"
)
# Names whose "and" joins a lower-case word, that :data:`_CLAUSE` would cut ("Marks and spencer",
# "Trinidad and tobago"): known ones, and a capitalised name "and Sons" / "and Co" / "and Partners".
_KNOWN_JOINED = (
    "marks and spencer", "procter and gamble", "johnson and johnson", "barnes and noble", "ernst and young",
    "dolce and gabbana", "black and decker", "simon and schuster", "crate and barrel", "arm and hammer",
    "bath and body works", "trinidad and tobago", "bosnia and herzegovina", "antigua and barbuda",
    "turks and caicos", "saint kitts and nevis", "st kitts and nevis", "sao tome and principe",
)  # fmt: skip
_KNOWN = "|".join(n.replace(" ", r"\s+") for n in _KNOWN_JOINED)
_JOINED_NAMES = re.compile(
    rf"\b(?i:{_KNOWN})\b"
    r"|\b[A-Z][\w'’.-]*\s+and\s+(?i:sons?|co|company|partners|associates|brothers|daughters)\b"
)
_KEPT_AND = "\x00and\x00"  # the "and" of a joined name, while the clauses are cut
# The words of a clause of its own: someone does something ("in two weeks I fly to Rome").
_SUBJECT = re.compile(r"\b(?:i|i'm|i'll|i've|we|we're|he|she|they|you|my|our|it|it's|there)\b", re.I)


def _is_later(found: re.Match[str], at: datetime) -> bool:
    """Whether one time phrase of :data:`_LATER` is still to come at ``at``: a year only when after it."""
    year = found.group("year") or found.group("month_year")
    if year is None:
        return True
    if found.group("month") is None:
        return int(year) > at.year
    month = MONTH_NAMES.index(found.group("month").lower()) + 1
    return (int(year), month) > (at.year, at.month)


def _says_later(text: str, at: datetime) -> bool:
    return any(_is_later(found, at) for found in _LATER.finditer(text))


def object_span(obj: str) -> tuple[str, list[str]]:
    """The object's own words (up to where another clause starts) and the phrases after it, each
    after a comma, that read as a part of it: a capitalised one ("Rome, Italy") or one that starts
    with a time and has no subject of its own (", starting next year", ", as of January 2020")."""
    kept = _JOINED_NAMES.sub(lambda m: re.sub(r"\s+and\s+", _KEPT_AND, m.group()), obj)
    own = _CLAUSE.split(kept, maxsplit=1)[0].replace(_KEPT_AND, " and ")
    head, *rest = own.split(",")
    parts: list[str] = []
    for part in (p.strip() for p in rest):
        if part[:1].isupper():
            parts.append(part)
            continue
        if _LATER.match(part) is None or _SUBJECT.search(part):
            break  # another clause: "in two weeks I fly to Rome", "it's lovely"
        parts.append(part)
    return head.strip(), parts


def later(obj: str, at: datetime) -> bool:
    """Whether ``obj`` (a profile statement's object, said at ``at``) says the statement starts
    later than ``at`` (see the module doc)."""
    head, parts = object_span(_UNTIL.split(_SCHEDULE.sub(" ", obj), maxsplit=1)[0])
    return any(_says_later(text, at) for text in (head, *parts))


def own_words(obj: str) -> str:
    """``obj`` cut where another clause or a time of its own starts ("Berlin, in two weeks I fly
    to Rome" -> "Berlin"; "Rome, Italy, as of 2020" -> "Rome, Italy"): a home's or workplace's text."""
    head, parts = object_span(obj)
    names = []
    for part in parts:
        if not part[:1].isupper():
            break
        names.append(part)
    return ", ".join([head, *names]) if head else obj


# The month May, written capitalised after a time word or before a year ("from May 2019", "in May"):
# not the hedge "may" (rules._HEDGE) when its year is not after when it was said.
_MAY = re.compile(
    r"\b(?:in|since|from|as of|starting|of|until|till)\s+May(?:\s+(?P<y>\d{4}))?\b|\bMay\s+(?P<z>\d{4})\b"
)


def may_unhedged(obj: str, at: datetime) -> str:
    """``obj`` with the month May (:data:`_MAY`) blanked unless its year is after ``at``'s: "I moved
    to Lisbon in May 2024" is read as "in March 2024" is; "in May 2099" stays a hedge (nothing)."""
    return _MAY.sub(lambda m: m[0] if int(m["y"] or m["z"] or at.year) > at.year else " ", obj)
