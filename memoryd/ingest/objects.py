"""Where the object of an English self-statement ends, for fast mode's rules
(:mod:`memoryd.ingest.rules`): "I live in Paris, it's lovely" is Paris, "I love cats and my wife
loves dogs" is cats, "I like coffee as soon as I wake up" is coffee. Pure: no I/O.
"""

from __future__ import annotations

import re

__all__ = [
    "allergen",
    "clean_object",
    "favourite_answer",
    "hedged_after",
    "occupation",
    "reported_after",
    "taste_object",
]

_MAX_OBJECT_WORDS = 8
_MAX_OBJECT_CHARS = 60

# The patterns below that start with spaces (or a run of _TRAIL's marks) start at none after one: a
# match starting there starts one character earlier too, so they find the same, and searching no
# longer scans a run of spaces again from each of its characters (quadratic: 2,000 spaces, ~0.5 s).
# Where an English object ends: another statement or person takes over ("I'm a nurse and I'm 30",
# "I love cats and my wife loves dogs", "I like cats and hate dogs", "I live in Paris, it's lovely").
_OBJECT_END = re.compile(
    r"(?:,|(?<!\s)\s+(?:and|&|but|or|while|whereas|though|because|since|when))\s+(?:also\s+)?"
    r"(?=(?:i|i'm|i've|i'd|i'll|my|his|her|their|our|he|she|they|we|you|it's|he's|she's|they're|we're|"
    r"you're|hate|dislike|don't|do\s+not|can't|love|like|enjoy|prefer|adore|work|live|am)\b)",
    re.I,
)
# A speech tag right after the object: ", she said", ", my wife told me".
_REPORTED = re.compile(r"""^[\s,"'”’]*(?:my\s+)?\w+\s+(?:said|says|told|asked|wrote|replied)\b""", re.I)
# When the statement holds, said after its object: no part of it ("I live in Paris now" is the same
# home as "I live in Paris"; "I don't like tea anymore" dislikes tea).
_WHEN = re.compile(
    r"(?<!\s)\s+(?:now|again|anymore|any more|these days|nowadays|at the moment|right now|for now|currently|"
    r"too|as well|from now on|from today(?: on)?|(?:as of|starting) (?:now|today))$"
)  # lower case: "the band Now" keeps its name
_TRAIL = re.compile(r"(?<![\s,.:;!'\"“”‘’)(\]\[])[\s,.:;!'\"“”‘’)(\]\[]+$")
_FIRST_PERSON = re.compile(r"\b(my|mine|me|myself)\b", re.I)
_THIRD_PERSON = {"my": "their", "mine": "theirs", "me": "them", "myself": "themselves"}
# A clause of its own after a taste's thing, that says when or why: a conjunction before a subject
# ("coffee as soon as I wake up", "tea after I run", "jazz if I'm honest"), with a word that leads it
# ("apps on the go, especially when I'm stuck": apps on the go); "coffee after dinner" and "walks
# before bed" are the thing as said.
_TASTE_CLAUSE = re.compile(
    r"(?<!\s)(?:,?\s+(?:especially|particularly|mostly|mainly|usually|only|even|just))?"
    r"\s+(?:as soon as|as long as|whenever|when|because|since|after|before|while|whilst|if|unless|"
    r"once|until|till|though|although|as|so that|so)\s+"
    r"(?=(?:i|i'm|i've|i'd|i'll|you|you're|he|he's|she|she's|it|it's|we|we're|they|they're|there|"
    r"there's|my|your|our|their)\b)",
    re.I,
)


def _trimmed(text: str) -> str:
    """``text`` without the punctuation it ends with, but a ``)`` that closes a ``(`` of it ("bees
    (and wasps)"); an opening bracket left unclosed is cut with what follows it."""
    cut = _TRAIL.sub("", text)
    if cut.count("(") > cut.count(")"):
        if text[len(cut) :].lstrip().startswith(")"):
            return cut + ")"
        cut = _TRAIL.sub("", cut[: cut.rfind("(")])
    return cut


def clean_object(raw: str) -> str | None:
    """The object of an English statement, cut at its first clause break, in the third person
    ("hiking with my dog" -> "hiking with their dog"); None if unusable."""
    text = _trimmed(" ".join(raw.split()))
    end = _OBJECT_END.search(text)
    if end is not None:
        text = text[: end.start()]
    for cut in (" because ", " since ", " when ", " but ", " and i ", " though "):
        pos = text.lower().find(cut)
        if pos > 0:
            text = text[:pos]
    text = _trimmed(_WHEN.sub("", _trimmed(text)))
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


# A hedge that ends the statement's part after its object: ", I think", ", I'm not sure", ", probably".
_HEDGE_TAG = re.compile(
    r",\s*(?:i\s+(?:think|guess|believe|suppose|reckon|hope|assume|imagine)|i'd\s+say|i\s+dunno"
    r"|i'm\s+not\s+(?:sure|certain)|i\s+(?:don't|do\s+not)\s+know|probably|perhaps|presumably"
    r"|or\s+so\s+i\s+(?:think|thought|believe|hear|heard))[\s,.!…]*$",
    re.I,
)


def hedged_after(raw: str) -> bool:
    """Whether ``raw`` (the text after a rule's verb, to the end of its part) ends in a hedge of the
    statement ("Rome, I think", "peanuts anymore, I'm not sure"): then it states nothing. A clause
    of its own is none ("Rome, I think it is great")."""
    return _HEDGE_TAG.search(raw) is not None


def reported_after(raw: str) -> bool:
    """Whether what follows the object in ``raw`` (the text after a rule's verb) tags the words as
    someone's speech (", she said", ", my wife told me"): only right after it, so that a later
    "if" or "said" of another statement in the sentence does not undo this one."""
    end = _OBJECT_END.search(raw)
    return end is not None and _REPORTED.match(raw[end.start() :]) is not None


# What a favourite, an occupation or an allergy says after its object: a clause of its own ("a
# waiter until I find something better", "bees so be careful", "green, what's yours").
_CLAUSE_AFTER = re.compile(
    r"(?:,\s*|(?<!\s)\s+)(?:until|till|while|whilst|because|since|so|but|though|although|unless|when|whenever|"
    r"which|who|whereas|if|what's|what|how|and\s+(?:you|yours)|for\s+(?:a\s+living|now|the\s+time\s+being|"
    r"a\s+while))\b.*$"
)  # lower case as said: "The Girl Who Played with Fire" is a name
# A favourite that names no one thing: a hedge, a non-answer, a choice not made, said only in passing.
_NO_ANSWER = re.compile(
    r"\b(?:probably|possibly|perhaps|maybe|likely|kind\s+of|sort\s+of|kinda|sorta|i\s+think|i\s+guess|"
    r"i\s+suppose|i'd\s+say|either|or|a\s+tie|tied|between|toss-?up|depends|(?:hard|tough|difficult|"
    r"impossible)\s+to|too\s+many|changes|changing|varies|whatever|whichever|not\s+sure|unsure|idk|"
    r"used\s+to)\b",
    re.I,
)
# Words that begin a description of the favourite thing, or a clause, rather than its name ("My
# favorite sweater is super soft", "My favorite author is actually a mystery writer", "My
# favorite thing is when the kids laugh"): lower case as said, so "New Order" stays a name.
_DESCRIBES = re.compile(
    r"^(?:actually|really|super|so|very|pretty|quite|too|extremely|incredibly|totally|always|still|also|"
    r"just|usually|often|mostly|more|less|when|where|what|how|why|who|whose|that|this|if|because|to|"
    r"being|not|no|great|amazing|awesome|good|nice|cool|fun|beautiful|lovely|perfect|soft|comfy|"
    r"comfortable|cozy|cosy|warm|lightweight|expensive|cheap|interesting|special|underrated|overrated|"
    r"different|complicated|unclear|gone|closed|dead|broken|here|there|mine|yours|one)\b"
)
# Emphasis before a favourite: no part of it ("definitely fall" is fall).
_EMPHASIS = re.compile(
    r"^(?:definitely|certainly|absolutely|undoubtedly|easily|clearly|obviously|hands\s+down|"
    r"without\s+a\s+doubt|by\s+far|for\s+sure),?\s+",
    re.I,
)


def favourite_answer(obj: str, raw: str) -> str | None:
    """A favourite's thing: ``obj`` (the cleaned object; ``raw`` as said after "is") cut where a
    clause of its own begins ("green, what's yours" is green), without emphasis ("definitely
    fall" is fall); None unless it names one thing as a plain answer: not a hedge or a non-answer
    ("probably sushi", "hard to pick", "a tie between pizza and sushi", "pizza, or was"), not a
    clause ("when the kids laugh") nor a description ("super soft", "actually a mystery writer")."""
    if _NO_ANSWER.search(raw) is not None:
        return None
    text = _trimmed(_CLAUSE_AFTER.sub("", _EMPHASIS.sub("", obj)))
    if "," in text and text.split(",", 1)[1].strip()[:1].islower():
        text = _trimmed(text.split(",", 1)[0])  # "green, it's lovely": green; "Earth, Wind & Fire" stays
    if not text or _DESCRIBES.match(text) is not None:
        return None
    return text


# "I work as a …" that names no occupation: how, with whom or why the user works.
_NO_ROLE = re.compile(
    r"^(?:an?)\s+(?:team|group|unit|family|whole|pair|duo|couple|collective|partnership|way|means|"
    r"result|hobby|distraction|side|treat|reward|break|excuse|form|kind|sort|part|matter|favou?r|bonus|"
    r"bit|lot|one|single|rule|consequence|precaution|last\s+resort|substitute|stand-in)\b",
    re.I,
)

_PURPOSE = re.compile(r"(?<!\s)\s+to\s+(?:pay|make|earn|help|support|get|keep|cover|save|fund|afford)\b.*$")


def occupation(obj: str) -> str | None:
    """The role "I work as …" names ("a waiter until I find something better" is "a waiter"); None
    for what names none ("a team", "a way to relax")."""
    text = _trimmed(_PURPOSE.sub("", _CLAUSE_AFTER.sub("", obj)))
    if _NO_ROLE.match(text) is not None or len(text.split()) < 2:
        return None
    return text


_WEEK = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekday|weekend|morning|evening|night"
# What one is allergic to only in a figure of speech: days and times, ideas, work, people, chores.
_FIGURATIVE = re.compile(
    rf"\b(?:(?:{_WEEK})s?|idea|ideas|thought|concept|notion|prospect|work|working|job|jobs|boss|bosses|"
    r"people|humans|commitment|commitments|exercise|effort|responsibility|responsibilities|math|maths|"
    r"drama|change|adulting|chores|homework|school|meetings|nonsense|stupidity|bullshit|bs|fun|"
    r"small\s+talk|deadlines|mondays|crowds|politics|rules|myself|yourself|you|it|that|this|"
    r"january|february|march|april|june|july|august|september|october|november|december)\b",
    re.I,
)
_ING_THINGS = {"pudding", "stuffing", "dressing", "icing", "frosting", "herring", "bedding", "clothing"}
_GERUND_PRODUCT = re.compile(r"\b(?:products?|powders?|detergents?|soaps?|liquids?|solutions?|sprays?)$")


def allergen(obj: str) -> str | None:
    """What "I'm allergic to …" names ("bees so be careful" is bees); None for a figure of speech
    ("Mondays", "the idea of working weekends", "running")."""
    text = _trimmed(_CLAUSE_AFTER.sub("", obj))
    if not text or _FIGURATIVE.search(text) is not None:
        return None
    first = re.sub(r"^(?:the|their|all|most|any)\s+", "", text.lower()).split()[0]
    if first.endswith("ing") and first not in _ING_THINGS and _GERUND_PRODUCT.search(text.lower()) is None:
        return None  # "running", "waking up early"; "cleaning products" stays
    return text
