"""Dates in a query: explicit ("on 13 October, 2023", "in July 2023", "2023-10-13", "2023年7月")
and relative to the asker's now ("yesterday", "a couple of days ago", "last week", "3 months ago",
"last Tuesday", "last night"; 昨天, 昨晚, 前天, 三天前, 上周, 上个月, 去年, 上周二).

Pure: :func:`query_span` returns the time span a query names, or ``None``. The
searcher then favours memories said in that span (their ``event_time``), so
"What did Maria mention on 3 June, 2023?" finds what was said that day.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, tzinfo

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
_LAST_ZH = re.compile(
    r"上个?(?P<week>周|星期|礼拜)(?![一二三四五六日天])|上个?(?P<month>月)|(?P<year>去年)"
)  # 上周, 上个星期, 上个月, 去年 (上周二 is a day: _WEEKDAY_ZH)
_DAY_BEFORE = re.compile(r"\bthe\s+day\s+before\s+yesterday\b|前天", re.I)
_YESTERDAY = re.compile(r"\byesterday\b|\blast\s+night\b|昨天|昨晚", re.I)
# Not "today", "tonight", "this evening" (今天, 今晚): as often about now or what is to come
# ("any ideas for tonight?") as about what was said.
_TODAY = re.compile(r"\bearlier\s+today\b|今天早些时候", re.I)
_UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 30.0, "year": 365.0, "weekend": 7.0}
_ZH_DIGITS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
              "几": 3}  # fmt: skip
_ZH_UNIT = {"天": "day", "日": "day", "周": "week", "星期": "week", "个星期": "week", "个月": "month",
            "年": "year"}  # fmt: skip
_AGO_ZH = re.compile(
    r"(?P<n>\d{1,3}|[一两二三四五六七八九十几]{1,3})\s*(?P<unit>个星期|星期|个月|天|日|周|年)以?前"
)  # 三天前, 两个月前, 十五天以前, 2周前
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
# "last Tuesday", "this past Tuesday", 上周二: a day just gone. Not "on Tuesday" nor 周二: as often a day
# an older conversation named ("my appointment on Monday"), and favouring the last one buried it
# (LongMemEval dev: "What time did I reach the clinic on Monday?" lost a gold session from its top 50).
_WEEKDAY = re.compile(r"\b(?:last|this\s+past)\s+(?P<day>" + "|".join(_WEEKDAYS) + r")\b", re.I)
_WEEKDAY_ZH = re.compile(r"上个?(?:周|星期|礼拜)(?P<day>[一二三四五六日天])")
_ZH_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}


def _zh_count(text: str) -> int:
    """A count in digits or Chinese numerals up to 99 (三, 十, 十五, 二十, 几: a few)."""
    if text.isdigit():
        return int(text)
    tens, ten, ones = text.partition("十")
    if not ten:
        return _ZH_DIGITS.get(text, 1)
    return (_ZH_DIGITS.get(tens, 1) if tens else 1) * 10 + _ZH_DIGITS.get(ones, 0)


def _ago(n: int, unit: str, now: datetime) -> tuple[datetime, datetime]:
    days = n * _UNIT_DAYS[unit]
    half = max(1.0, days / 2)  # "3 days ago" is vaguer than it sounds; "a month ago" more so
    centre = now - timedelta(days=days)
    return centre - timedelta(days=half), min(now, centre + timedelta(days=half))


def _weekday(day: int, previous_week: bool, now: datetime) -> tuple[datetime, datetime]:
    """The weekday ``day`` (Monday 0) named: the latest before today, or that day of the previous
    calendar week (上周二); a day either side for the asker's time zone."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    back = now.weekday() + 7 - day if previous_week else (now.weekday() - day) % 7 or 7
    start = today - timedelta(days=back)
    return start - timedelta(days=1), min(now, start + timedelta(days=2))


def _relative(query: str, now: datetime) -> tuple[datetime, datetime] | None:
    if _DAY_BEFORE.search(query):
        return now - timedelta(days=3), now - timedelta(days=1)
    if _YESTERDAY.search(query):
        return now - timedelta(days=2), now
    if _TODAY.search(query):
        return now - timedelta(days=1), now
    match = _AGO.search(query)
    if match is not None:
        count = match["n"].lower()
        return _ago(int(count) if count.isdigit() else _NUMBER.get(count, 1), match["unit"].lower(), now)
    match = _AGO_ZH.search(query)
    if match is not None:
        return _ago(_zh_count(match["n"]), _ZH_UNIT[match["unit"]], now)
    match = _WEEKDAY.search(query)
    if match is not None:
        return _weekday(_WEEKDAYS[match["day"].lower()], False, now)
    match = _WEEKDAY_ZH.search(query)
    if match is not None:
        return _weekday(_ZH_WEEKDAYS[match["day"]], True, now)
    match = _LAST.search(query)
    if match is not None:
        days = _UNIT_DAYS[match["unit"].lower()]
        return now - timedelta(days=2 * days), now
    match = _LAST_ZH.search(query)
    if match is not None:
        days = _UNIT_DAYS["week" if match["week"] else "month" if match["month"] else "year"]
        return now - timedelta(days=2 * days), now
    return None


def query_span(query: str, now: datetime | None = None) -> tuple[datetime, datetime] | None:
    """The [start, end) span of the first date in ``query``, else ``None``.

    Explicit dates win; relative ones are read against ``now`` (the asker's time). Days, months
    and "last Tuesday" are the asker's: in ``now``'s UTC offset (UTC when it has none, or with
    no ``now``), so "3 May" asked at +08:00 is 2 May 16:00Z to 3 May 16:00Z."""
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    explicit = _explicit(query, UTC if now is None else now.tzinfo or UTC)
    if explicit is not None or now is None:
        return explicit
    try:
        return _relative(query, now)
    except OverflowError:  # a "now" at the ends of the datetime range: no span to favour
        return None


def _explicit(query: str, zone: tzinfo) -> tuple[datetime, datetime] | None:
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
                start = datetime(year, month, int(day), tzinfo=zone)
                return start, start + timedelta(days=1)
            start = datetime(year, month, 1, tzinfo=zone)
        except ValueError:
            continue
        end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
        return start, end
    return None
