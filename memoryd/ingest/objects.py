"""Where the object of an English self-statement ends, for fast mode's rules
(:mod:`memoryd.ingest.rules`): "I live in Paris, it's lovely" is Paris, "I love cats and my wife
loves dogs" is cats, "I like coffee as soon as I wake up" is coffee. Pure: no I/O.
"""

from __future__ import annotations

import re

__all__ = ["clean_object", "reported_after", "taste_object"]

_MAX_OBJECT_WORDS = 8
_MAX_OBJECT_CHARS = 60

# Where an English object ends: another statement or person takes over ("I'm a nurse and I'm 30",
# "I love cats and my wife loves dogs", "I like cats and hate dogs", "I live in Paris, it's lovely").
_OBJECT_END = re.compile(
    r"(?:,|\s+(?:and|&|but|or|while|whereas|though|because|since|when))\s+(?:also\s+)?"
    r"(?=(?:i|i'm|i've|i'd|i'll|my|his|her|their|our|he|she|they|we|you|it's|he's|she's|they're|we're|"
    r"you're|hate|dislike|don't|do\s+not|can't|love|like|enjoy|prefer|adore|work|live|am)\b)",
    re.I,
)
# A speech tag right after the object: ", she said", ", my wife told me".
_REPORTED = re.compile(r"""^[\s,"'”’]*(?:my\s+)?\w+\s+(?:said|says|told|asked|wrote|replied)\b""", re.I)
# When the statement holds, said after its object: no part of it ("I live in Paris now" is the same
# home as "I live in Paris"; "I don't like tea anymore" dislikes tea).
_WHEN = re.compile(
    r"\s+(?:now|again|anymore|any more|these days|nowadays|at the moment|right now|for now|currently|"
    r"too|as well|from now on|from today(?: on)?|(?:as of|starting) (?:now|today))$"
)  # lower case: "the band Now" keeps its name
_TRAIL = re.compile(r"[\s,.:;!'\"“”‘’)(\]\[]+$")
_FIRST_PERSON = re.compile(r"\b(my|mine|me|myself)\b", re.I)
_THIRD_PERSON = {"my": "their", "mine": "theirs", "me": "them", "myself": "themselves"}
# A clause of its own after a taste's thing, that says when or why: a conjunction before a subject
# ("coffee as soon as I wake up", "tea after I run", "jazz if I'm honest"); "coffee after dinner"
# and "walks before bed" are the thing as said.
_TASTE_CLAUSE = re.compile(
    r"\s+(?:as soon as|as long as|whenever|when|because|since|after|before|while|whilst|if|unless|"
    r"once|until|till|though|although|as|so that|so)\s+"
    r"(?=(?:i|i'm|i've|i'd|i'll|you|you're|he|he's|she|she's|it|it's|we|we're|they|they're|there|"
    r"there's|my|your|our|their)\b)",
    re.I,
)


def clean_object(raw: str) -> str | None:
    """The object of an English statement, cut at its first clause break, in the third person
    ("hiking with my dog" -> "hiking with their dog"); None if unusable."""
    text = _TRAIL.sub("", " ".join(raw.split()))
    end = _OBJECT_END.search(text)
    if end is not None:
        text = text[: end.start()]
    for cut in (" because ", " since ", " when ", " but ", " and i ", " though "):
        pos = text.lower().find(cut)
        if pos > 0:
            text = text[:pos]
    text = _TRAIL.sub("", _WHEN.sub("", _TRAIL.sub("", text)))
    if not text or len(text) > _MAX_OBJECT_CHARS or len(text.split()) > _MAX_OBJECT_WORDS:
        return None
    if not any(ch.isalnum() for ch in text):
        return None
    return _FIRST_PERSON.sub(lambda m: _THIRD_PERSON[m.group(1).lower()], text)


def taste_object(raw: str) -> str:
    """A taste's object (the text after "I like") up to where a clause of its own starts ("coffee
    as soon as I wake up" -> "coffee"): the thing liked, not when or why."""
    end = _TASTE_CLAUSE.search(raw)
    return raw if end is None else raw[: end.start()]


def reported_after(raw: str) -> bool:
    """Whether what follows the object in ``raw`` (the text after a rule's verb) tags the words as
    someone's speech (", she said", ", my wife told me"): only right after it, so that a later
    "if" or "said" of another statement in the sentence does not undo this one."""
    end = _OBJECT_END.search(raw)
    return end is not None and _REPORTED.match(raw[end.start() :]) is not None
