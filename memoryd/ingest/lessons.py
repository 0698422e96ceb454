"""One current lesson per topic in what fast mode's rules learn about the assistant's behaviour.

The feedback rules (:mod:`memoryd.hierarchy.feedback`) write "The assistant should answer in
French." from "Please answer in French"; a later "Please answer in English from now on" writes
"The assistant should answer in English.", and the user has changed their mind: the two are on one
timeline, the reply language's, and the later ends the earlier (kept ended, ``SUPERSEDE`` in its
history, found with ``as_of``), as :func:`memoryd.ingest.timelines.settle_profile` lays out a
home's. The topics (:func:`lesson_line`):

- the reply language: "answer in French", "answer in plain English", 用中文回答, 用英文回答;
- the length: "keep its answers concise" and "give more detailed answers" (and "that was too
  long", "too short", 简洁一点, 详细一点, which the rules write so);
- the formality: "be more formal", "be less formal", "be more casual", "be more informal", "be
  more professional", "stop being so formal", 正式一点, 随意一点.

Any other lesson ("don't use emojis", "stop apologising", "use simpler language", "be more
patient") is on no timeline: it ends none and none ends it. Only what the rules wrote
(``metadata.rule`` a feedback rule's, ``metadata.about`` the assistant): fine mode's lessons, in
the model's words, are reconciled by the model. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from memoryd.models import MemoryKind, MemoryRecord

__all__ = ["LESSON", "lesson_line", "lesson_where"]

LESSON = "lesson:"  # what a lesson's timeline is named by, before its topic (a home's: its attribute)
# The feedback rules whose statements may be on a topic's line ("too" writes "concise" or "more formal").
_RULES = ("answer_in", "concise", "detail", "tone", "too", "stop")
_PREFIX = "feedback:"

# The texts the rules write, by topic. A language is the one capitalised word after "answer in"
# (formats are written lower case: "answer in bullet points", "answer in markdown").
_TOPICS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "language",
        re.compile(
            r"^(?:The assistant should answer in (?:plain |simple )?[A-Z][a-z]+\.|助手应该用\w+回答。)$"
        ),
    ),
    (
        "length",
        re.compile(
            r"^(?:The assistant should (?:keep its answers concise|give more detailed answers)\."
            r"|助手应该回答得更(?:简洁|详细)。)$"
        ),
    ),
    (
        "formality",
        re.compile(
            r"^(?:The assistant should (?:be (?:more|less) (?:formal|informal|casual|professional)"
            r"|stop being so formal)\.|助手应该更(?:正式|随意)一些。)$"
        ),
    ),
)


def lesson_line(m: MemoryRecord) -> str | None:
    """The timeline a lesson of the feedback rules is on beside its owner (:data:`LESSON` and its
    topic: the reply language, the length, the formality); None for any other memory."""
    meta = m.metadata
    rule = meta.get("rule")
    if m.kind is not MemoryKind.PREFERENCE or meta.get("about") != "assistant" or not isinstance(rule, str):
        return None
    if not rule.startswith(_PREFIX) or rule[len(_PREFIX) :] not in _RULES:
        return None
    return next((LESSON + topic for topic, text in _TOPICS if text.match(m.text)), None)


def lesson_where(line: str) -> dict[str, Any] | None:
    """What the stored memories on ``line`` are selected by, as a filter (every lesson of the rules
    that may be on a topic's line: :func:`lesson_line` tells which are); None if ``line`` is no
    lesson's."""
    if not line.startswith(LESSON):
        return None
    return {
        "kind": MemoryKind.PREFERENCE.value,
        "metadata.about": "assistant",
        "metadata.rule": {"in": [_PREFIX + rule for rule in _RULES]},
    }
