"""Dates in a query: explicit ("on 13 October, 2023", "in July 2023", "2023-10-13", "2023年7月")
and relative to the asker's now ("yesterday", "a couple of days ago", "last week", "3 months ago").

Pure: :func:`query_span` returns the time span a query names, or ``None``. The
searcher then favours memories said in that span (their ``event_time``), so
"What did Maria mention on 3 June, 2023?" finds what was said that day.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

__all__ = ["query_span"]

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS["sept"] = 9  # "Sept 12, 2023", "Sept. 2023": as common as "Sep"
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_PATTERNS = [
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.I),  # 13 October, 2023
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.I),  # October 13, 2023
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]?\d)-(?P<day>[0-3]?\d)\b"),  # 2023-10-13
    re.compile(r"(?P<year>(?:19|20)\d\d)\s*年\s*(?P<month>[01]?\d)\s*月\s*(?:(?P<day>[0-3]?\d)\s*[日号])?"),
    re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b", re.I),  # July 2023
]


def _month(value: str) -> int | None:
    if value.isdigit():
        number = int(value)
        return number if 1 <= number <= 12 else None
    return _MONTHS.get(value.lower().rstrip("."))


_NUMBER = {
    "a": 1, "an": 1, "one": 1, "a couple of": 2, "couple of": 2, "two": 2, "a few": 3, "few": 3,
    "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_COUNT = r"(?P<n>\d{1,3}|" + "|".join(sorted(_NUMBER, key=len, reverse=True)) + ")"
# Not the tail of a bigger number: "1,000 days ago" is not "000 days ago", nor "1.5 years" "5 years".
_AGO = re.compile(rf"(?<![\d.,])\b{_COUNT}\s+(?P<unit>day|week|month|year)s?\s+ago\b", re.I)
_LAST = re.compile(r"\b(?:last|past|previous)\s+(?P<unit>week|month|year|weekend)\b", re.I)
_YESTERDAY = re.compile(r"\byesterday\b|昨天", re.I)
_UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 30.0, "year": 365.0, "weekend": 7.0}


def _relative(query: str, now: datetime) -> tuple[datetime, datetime] | None:
    if _YESTERDAY.search(query):
        return now - timedelta(days=2), now
    match = _AGO.search(query)
    if match is not None:
        count = match["n"].lower()
        n = int(count) if count.isdigit() else _NUMBER.get(count, 1)
        days = n * _UNIT_DAYS[match["unit"].lower()]
        half = max(1.0, days / 2)  # "3 days ago" is vaguer than it sounds; "a month ago" more so
        centre = now - timedelta(days=days)
        return centre - timedelta(days=half), min(now, centre + timedelta(days=half))
    match = _LAST.search(query)
    if match is not None:
        days = _UNIT_DAYS[match["unit"].lower()]
        return now - timedelta(days=2 * days), now
    return None


def query_span(query: str, now: datetime | None = None) -> tuple[datetime, datetime] | None:
    """The [start, end) span of the first date in ``query`` (UTC), else ``None``.

    Explicit dates win; relative ones are read against ``now`` (the asker's time)."""
    explicit = _explicit(query)
    if explicit is not None or now is None:
        return explicit
    try:
        return _relative(query, now if now.tzinfo else now.replace(tzinfo=UTC))
    except OverflowError:  # a "now" at the ends of the datetime range: no span to favour
        return None


def _explicit(query: str) -> tuple[datetime, datetime] | None:
    for pattern in _PATTERNS:
        match = pattern.search(query)
        if match is None:
            continue
        parts = match.groupdict()
        month = _month(parts["month"])
        year = int(parts["year"])
        if month is None:
            continue
        day = parts.get("day")
        try:
            if day:
                start = datetime(year, month, int(day), tzinfo=UTC)
                return start, start + timedelta(days=1)
            start = datetime(year, month, 1, tzinfo=UTC)
        except ValueError:
            continue
        end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        return start, end
    return None
