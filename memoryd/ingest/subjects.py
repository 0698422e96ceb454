"""The timelines of what fast mode's rules state about another speaker, as the user's homes have.

"Melanie lives in Paris." (a fact about Melanie, :mod:`memoryd.ingest.speakers`) and a later
"Melanie lives in Rome." are on one line: a person has one home, workplace and name at a time, and
one favourite of each category ("Melanie's favorite food is sushi."), so the later ends the
earlier, as :func:`memoryd.ingest.timelines.settle_profile` lays out the user's own (kept ended,
``SUPERSEDE`` in its history, found with ``as_of``; one told late is added already ended; deleting
the turn that ended it makes it current again). Each diet and allergen of theirs is a line of its
own, as the user's (:func:`memoryd.ingest.phrasings.state_line`): "Melanie is no longer vegan."
ends "Melanie is vegan.". An end ("Melanie no longer lives in Rome.") ends her home or workplace
(diet, allergy) only when it is the place (thing) named, else it is not stored, as the user's
(:mod:`memoryd.ingest.leaving`). A line is one person's (their name compared as speakers' names
are: :func:`~memoryd.models.speaker_key`) and one attribute's (or category's), within the owner's
scope: Melanie's home never ends Caroline's, Bob's or the user's. Only what the rules wrote
(``metadata.rule``) is on one: fine mode's facts about a speaker are reconciled their
own way. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from memoryd.ingest import phrasings
from memoryd.models import MemoryKind, MemoryRecord, speaker_key

__all__ = ["SUBJECT", "one_thing", "subject_line", "subject_where"]

SUBJECT = "subject:"  # what a line about another speaker is named by, before its attribute and name
# The rules whose statements are of one value at a time, and the attribute each states
# (rules.SINGLE_VALUED: "live" states the "location"); an end of one is on its line
# (memoryd.ingest.leaving: "Melanie no longer lives in Rome." ends her home when it is Rome).
_ATTRIBUTES = {
    "name": "name", "work": "work", "live": "location", "moved_out": "location", "left_work": "work"
}  # fmt: skip
# A favourite ("Melanie's favourite food is sushi."): one per category and person, its line
# "subject:favourite:<category>" then the name after a NUL (a category may hold a colon).
_FAVOURITE = "favourite"


def subject_line(m: MemoryRecord) -> str | None:
    """The name of the line a fact of the rules about another speaker is on beside its owner
    (:data:`SUBJECT`, the attribute, the speaker's name key); None for any other memory."""
    subject, rule = m.metadata.get("subject"), m.metadata.get("rule")
    if m.kind is not MemoryKind.FACT or not isinstance(subject, str) or not isinstance(rule, str):
        return None
    key = speaker_key(subject)
    if rule == _FAVOURITE:
        category = m.metadata.get(_FAVOURITE)
        return f"{SUBJECT}{_FAVOURITE}:{category}\x00{key}" if category and key else None
    if (state := _state(m, subject, rule)) is not None:  # "Melanie is vegan.": one line per diet
        return f"{SUBJECT}{state}\x00{key}" if key else None
    attribute = _ATTRIBUTES.get(rule)
    return f"{SUBJECT}{attribute}:{key}" if attribute is not None and key else None


def _state(m: MemoryRecord, subject: str, rule: str) -> str | None:
    """The diet or allergen a fact of the rules about ``subject`` states or ends ("Melanie is no
    longer vegan.": "diet:vegan", as the user's: :func:`~memoryd.ingest.phrasings.state_of`)."""
    if not m.text.startswith(subject):
        return None
    return phrasings.state_of(rule, "The user" + m.text[len(subject) :])


def one_thing(m: MemoryRecord) -> bool:
    """Whether ``m`` is on a line of one thing, a diet's or an allergen's, the user's or another
    speaker's: an end there ends what is on it (:func:`~memoryd.ingest.leaving.ends`)."""
    if phrasings.state_line(m) is not None:
        return True
    subject, rule = m.metadata.get("subject"), m.metadata.get("rule")
    if m.kind is not MemoryKind.FACT or not isinstance(subject, str) or not isinstance(rule, str):
        return False
    return _state(m, subject, rule) is not None


def subject_where(line: str) -> dict[str, Any] | None:
    """What the stored memories on ``line`` are selected by, as a filter (every speaker's of its
    attribute or favourite's category: :func:`subject_line` tells whose); None if ``line`` is no
    line about a speaker."""
    if not line.startswith(SUBJECT):
        return None
    attribute, rest = line[len(SUBJECT) :].split(":", 1)
    if (states := phrasings.state_rules(line[len(SUBJECT) :])) is not None:  # a diet's, an allergen's
        return {"kind": MemoryKind.FACT.value, "metadata.rule": {"in": states}}
    if attribute == _FAVOURITE:
        category = rest.split("\x00", 1)[0]
        return {"kind": MemoryKind.FACT.value, "metadata.rule": _FAVOURITE, "metadata.favourite": category}
    rules = [rule for rule, said in _ATTRIBUTES.items() if said == attribute]
    return {"kind": MemoryKind.FACT.value, "metadata.rule": {"in": rules}}
