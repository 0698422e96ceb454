"""Fine mode, step 1: ask the LLM for facts, preferences and relations in new messages.

Pure prompt building and result checking; the call itself goes through the
router in :mod:`memoryd.ingest.fine`. The model sees the new messages numbered
``[0]``, ``[1]``, … and answers with those integer handles, never with ids.
Earlier turns of the same session are shown for reference only (to resolve
"she", "that place", "next week"), and nothing is extracted from them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from memoryd.graph.normalise import normalise_name, normalise_relation
from memoryd.models import MemoryKind, MemoryRecord, Message, fact_key

__all__ = [
    "MAX_FACT_CHARS",
    "MAX_NAME_CHARS",
    "MAX_PROMPT_MESSAGE_CHARS",
    "MAX_RELATION_CHARS",
    "MAX_TYPE_CHARS",
    "ExtractedFact",
    "ExtractedRelation",
    "Extraction",
    "NewMessage",
    "extraction_messages",
    "fact_text",
    "valid_items",
]

_SYSTEM = """\
You maintain the long-term memory of an AI assistant. From the NEW messages of a \
conversation, extract what is worth remembering about the people in it, for months.

Return one JSON object, nothing else:
{"facts": [{"text": str, "kind": "fact" | "preference" | "profile",
            "preference": "explicit" | "implicit" | null, "attribute": str | null,
            "about": "user" | "assistant", "sources": [int]}],
 "relations": [{"source": str, "source_type": str, "relation": str, "target": str,
                "target_type": str, "fact": int | null}]}

Rules for facts:
- One atomic, self-contained statement each, in the third person, naming the person \
(use the speaker's name when given, else "The user" / "The assistant"). Resolve pronouns \
and references with the earlier messages.
- Turn relative times into absolute dates using the message date ("yesterday" said on \
2024-05-08 -> "on 2024-05-07").
- kind "preference" for likes, dislikes, wishes and habits: "explicit" when stated, \
"implicit" when inferred from what the person does or asks.
- kind "profile" for lasting facts about who the person is: name, age or birthday, where \
they live, job and workplace, family members, languages, nationality; "attribute" names \
which, in one lower-case word (name, age, location, work, family, language, identity). \
Everything else (events, plans, things that happened) is "fact".
- "about": "assistant" only for what the assistant learned about how to behave with \
this user (e.g. "The user wants short answers" is about the user; "Answer in French" \
requested by the user is a preference about the user).
- "sources": the numbers of the NEW messages the fact comes from.
- Skip greetings, small talk, questions without information, and anything only in the \
earlier messages. Keep the language of the conversation. No facts -> "facts": [].

Rules for relations: entities (people, pets, organisations, places, things) and how \
they relate, as short snake_case verbs (works_at, lives_in, sister_of, likes, owns). \
Use the person's name, not "I" or "user" ("The user" only when no name is known). \
"fact": the number of the fact in your "facts" list that states the relation.
"""


MAX_FACT_CHARS = 2000
_ATTRIBUTE = re.compile(r"[a-z][a-z_]{0,29}")  # a profile attribute: one short lower-case word
# Other words models use for the attributes a person has one of at a time (a home, a workplace, a
# name; memoryd.ingest.timelines.SINGLE_VALUED): under another word, a new home ADDed by the model
# left the old one current beside it. Not a hometown, a country, a job (a role or a
# workplace?) or a first name: another thing than the home, workplace or whole name must not end one.
_ATTRIBUTE_ALIASES = {
    **dict.fromkeys(
        "home residence city lives_in living_in current_city current_location current_residence "
        "place_of_residence home_city".split(),
        "location",
    ),
    **dict.fromkeys(
        "workplace employer company works_at working_at current_employer current_company".split(), "work"
    ),
    **dict.fromkeys(("full_name", "real_name"), "name"),
}
MAX_NAME_CHARS = 200  # an entity's name
MAX_RELATION_CHARS = 100  # a relation's name ("works_at")
MAX_TYPE_CHARS = 50  # an entity's type ("person")


# A terminal's escape sequences, removed whole (not leaving "[31m" behind): a CSI (colours, cursor
# moves, "clear screen") and an OSC, DCS, PM or APC string (a window title, a hyperlink), each in its
# 7-bit (ESC [) and 8-bit (U+009B) forms. Other control characters are dropped one by one.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]P^_]|[\x90\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
# Cc but those Python reads as whitespace (\t \n \v \f \r, U+001C-U+001F, U+0085): a space here
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def fact_text(value: str, *, limit: int = MAX_FACT_CHARS) -> str | None:
    """``value`` as a memory's text from an LLM: control characters dropped (a bell, NUL, a
    terminal's escape sequences whole: a model's output brings none into a stored fact, which
    ``memoryd list`` or a log would print), whitespace collapsed; None when that leaves nothing,
    more than ``limit`` characters, or text that is not UTF-8 (a lone surrogate). Only for what a
    model wrote: the user's own messages are stored as said."""
    text = " ".join(_CONTROLS.sub("", _ESCAPES.sub("", value)).split())
    if not text or len(text) > limit:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def _graph_text(value: Any, limit: int) -> str | None:
    """``value`` as an entity or relation name (or type) from an LLM: a string cleaned as
    :func:`fact_text` is, at most ``limit`` characters; None when it is not, or when it holds
    a control character (NUL included) other than whitespace: a name is refused, not cleaned."""
    if not isinstance(value, str) or any(_CONTROLS.match(ch) for ch in value):
        return None
    return fact_text(value, limit=limit)


def _graph_name(value: str, limit: int, what: str) -> str:
    """:func:`_graph_text` for a name the relation cannot do without (else it is dropped)."""
    text = _graph_text(value, limit)
    if text is None:
        raise ValueError(f"{what} is empty, too long, not UTF-8 or has control characters")
    return text


class ExtractedFact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=MAX_FACT_CHARS)
    kind: Literal["fact", "preference", "profile"] = "fact"
    preference: Literal["explicit", "implicit"] | None = None
    attribute: str | None = None  # a profile's: "name", "location", "work", ...
    about: Literal["user", "assistant"] = "user"
    sources: list[int] = Field(default_factory=list)

    @field_validator("text")
    @classmethod
    def _strip(cls, value: str) -> str:
        text = fact_text(value)
        if text is None:
            raise ValueError("fact text is empty, too long or not UTF-8")
        return text

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        kinds = ("fact", "preference", "profile")
        return value.lower() if isinstance(value, str) and value.lower() in kinds else "fact"

    @field_validator("preference", mode="before")
    @classmethod
    def _preference(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ("explicit", "implicit"):
            return value.lower()
        return None

    @field_validator("attribute", mode="before")
    @classmethod
    def _attribute(cls, value: Any) -> Any:
        # One short word ("name", "location"); anything else says nothing usable.
        word = re.sub(r"[\s-]+", "_", value.strip().lower()) if isinstance(value, str) else ""
        return _ATTRIBUTE_ALIASES.get(word, word) if _ATTRIBUTE.fullmatch(word) else None

    @field_validator("about", mode="before")
    @classmethod
    def _about(cls, value: Any) -> Any:
        return "assistant" if isinstance(value, str) and value.lower() == "assistant" else "user"

    @field_validator("sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        # A message's number as the prompt shows it ("[1]") or as a string ("1") is that number
        items = value if isinstance(value, list) else [value]
        numbers = [_number(v) for v in items]
        return [v for v in numbers if v is not None]

    @property
    def memory_kind(self) -> MemoryKind:
        kinds = {"preference": MemoryKind.PREFERENCE, "profile": MemoryKind.PROFILE}
        return kinds.get(self.kind, MemoryKind.FACT)


def _number(value: Any) -> int | None:
    """A message's or fact's number as models write it: 1, "1", "[1]"; None for anything else."""
    if isinstance(value, str):
        value = value.strip().strip("[]").strip()
        return int(value) if value.isdigit() else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ExtractedRelation(BaseModel):
    """One relation of the extraction; a name that cannot be stored drops it, a bad type is None."""

    model_config = ConfigDict(extra="ignore")

    source: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    source_type: str | None = None
    relation: str = Field(min_length=1, max_length=MAX_RELATION_CHARS)
    target: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    target_type: str | None = None
    fact: int | None = None

    @field_validator("source", "target")
    @classmethod
    def _name(cls, value: str) -> str:
        name = _graph_name(value, MAX_NAME_CHARS, "entity name")
        if not normalise_name(name):  # "...", "—": the graph would skip it, unseen
            raise ValueError("entity name has no letter or digit")
        return name

    @field_validator("relation")
    @classmethod
    def _relation(cls, value: str) -> str:
        name = _graph_name(value, MAX_RELATION_CHARS, "relation name")
        if not normalise_relation(name):
            raise ValueError("relation name has no letter or digit")
        return name

    @field_validator("source_type", "target_type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return _graph_text(value, MAX_TYPE_CHARS)

    @field_validator("fact", mode="before")
    @classmethod
    def _fact(cls, value: Any) -> Any:
        return _number(value)


class Extraction(BaseModel):
    """What the extraction call must return; lenient where a safe default exists."""

    model_config = ConfigDict(extra="ignore")

    facts: list[ExtractedFact] = Field(default_factory=list)
    relations: list[ExtractedRelation] = Field(default_factory=list)
    # Items of the answer refused (a fact empty or too long, a relation without a storable name): set
    # by the validator whatever the answer says, so that the add can say so rather than lose them; not
    # dumped (an answer holding nothing, an echoed format, is one whose dump holds nothing)
    refused_facts: int = Field(0, exclude=True)
    refused_relations: int = Field(0, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _items(cls, data: Any) -> Any:
        """A bare string is a fact (so is an object with its text under another common key); an
        item that cannot be a fact (or relation) is dropped, not the whole answer, and each
        relation's ``fact`` is renumbered to the facts kept (None when its fact was dropped). An
        object that is no extraction (another schema, or a wrapper around one) or whose every item
        was dropped is refused, so the answer is unwrapped or asked again.
        The items alone, without their object, are read as its lists: a relation by its shape (a
        "relation", no "text"), anything else as a fact; an empty list is no fact."""
        if isinstance(data, list):
            shaped = [v for v in data if isinstance(v, dict) and "relation" in v and "text" not in v]
            data = {"facts": [v for v in data if v not in shaped], "relations": shaped}
        if not isinstance(data, dict):
            return data
        if data and "facts" not in data and "relations" not in data:
            raise ValueError('an extraction is an object with "facts" and "relations"')
        given = _as_list(data.get("facts"))
        raw = [_fact_item(v) for v in given]
        # "none" where no fact was found: no item, and no refused one (a relation's number still counts it)
        nothing = {i for i, v in enumerate(given) if _says_nothing(v)}
        facts: list[ExtractedFact] = []
        kept_at: dict[int, int] = {}  # the model's fact number -> its place among the kept facts
        by_text: dict[str, int] = {}
        for i, item in enumerate(raw):
            if i in nothing:
                continue
            try:
                fact = ExtractedFact.model_validate(item)
            except ValidationError:
                continue
            same = by_text.setdefault(fact_key(fact.text), len(facts))
            if same < len(facts):  # the same fact twice: one, from the messages of both
                first = facts[same]
                sources = list(dict.fromkeys([*first.sources, *fact.sources]))
                facts[same] = first.model_copy(update={"sources": sources})
            else:
                facts.append(fact)
            kept_at[i] = same
        relations = []
        raw_relations = [v for v in _as_list(data.get("relations")) if not _says_nothing(v)]
        for rel in valid_items(raw_relations, ExtractedRelation):
            assert isinstance(rel, ExtractedRelation)
            number = None if rel.fact is None else kept_at.get(rel.fact)
            relations.append(rel.model_copy(update={"fact": number}))
        if (len(raw) > len(nothing) or raw_relations) and not facts and not relations:
            raise ValueError("no item of the extraction has the shape asked for")
        refused = {
            "refused_facts": len(raw) - len(kept_at) - len(nothing),
            "refused_relations": len(raw_relations) - len(relations),
        }
        return {**data, "facts": facts, "relations": relations, **refused}

    def checked(self, n_messages: int) -> Extraction:
        """Drop out-of-range handles (the model cannot point at what it was not shown)."""
        facts = [
            f.model_copy(update={"sources": [s for s in f.sources if 0 <= s < n_messages]})
            for f in self.facts
        ]
        relations = [
            r.model_copy(update={"fact": r.fact if r.fact is not None and 0 <= r.fact < len(facts) else None})
            for r in self.relations
        ]
        return self.model_copy(update={"facts": facts, "relations": relations})


# Where models put a fact's text instead of "text" (mem0's prompts say "fact"; others "content")
_TEXT_KEYS = ("fact", "content", "memory")


def _fact_item(value: Any) -> Any:
    """An item of "facts" as :class:`ExtractedFact` reads it: a bare string is its text, as is the
    first string under one of :data:`_TEXT_KEYS` of an object that has no "text"."""
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, dict) and "text" not in value:
        text = next((value[k] for k in _TEXT_KEYS if isinstance(value.get(k), str)), None)
        return {**value, "text": text} if text is not None else value
    return value


# What models write for "no facts" where a list was asked for ("facts": "none", ["None"], [{"text":
# "N/A"}]): no item, never a memory whose text is "none".
_NOTHING = frozenset(
    {"none", "null", "nil", "n/a", "na", "nothing", "-", "无", "没有", "无事实", "no facts", "no new facts"}
    | {"no facts found", "no relevant facts", "no relations", "no information", "no new information"}
)


def _says_nothing(value: Any) -> bool:
    """Whether an item of "facts" or "relations" stands for no item: null, an empty or placeholder
    string ("none", "N/A", "No facts."), or a fact whose text is one."""
    if isinstance(value, dict):
        item = _fact_item(value)
        return "relation" not in value and isinstance(item.get("text"), str) and _says_nothing(item["text"])
    if isinstance(value, str):
        return " ".join(value.casefold().split()).strip(" .!。！\"'[]()") in _NOTHING | {""}
    return value is None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def valid_items(items: list[Any], model: type[BaseModel]) -> list[BaseModel]:
    """The items that validate as ``model``; the others are dropped, not the whole answer."""
    kept = []
    for item in items:
        try:
            kept.append(model.model_validate(item))
        except ValidationError:
            continue
    return kept


@dataclass(frozen=True)
class NewMessage:
    message: Message
    time: datetime | None


def _line(role: str | None, name: str | None, when: datetime | None, text: str) -> str:
    who = role or "user"
    if name:
        who = f"{who} ({name})"
    stamp = f" [{when.date().isoformat()}]" if when is not None else ""
    return f"{who}{stamp}: {text}"


MAX_PROMPT_MESSAGE_CHARS = 6000  # a message's text shown to extraction (the rest is stored, not shown)


def extraction_messages(
    new: Sequence[NewMessage],
    context: Sequence[MemoryRecord],
    today: datetime,
    *,
    max_chars: int = MAX_PROMPT_MESSAGE_CHARS,
) -> list[dict[str, str]]:
    """The chat messages of the extraction call."""
    parts = [f"Today is {today.date().isoformat()}."]
    if context:
        parts.append("EARLIER messages (for reference only; extract nothing from them):")
        parts.extend(_line(m.role, m.actor, m.event_time, _clip(m.text, max_chars)) for m in context)
    parts.append("NEW messages:")
    parts.extend(
        f"[{i}] " + _line(n.message.role, n.message.name, n.time, _clip(n.message.content, max_chars))
        for i, n in enumerate(new)
    )
    parts.append('Answer with the JSON object {"facts": [...], "relations": [...]}.')
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " …"
