"""Fine mode, step 2: decide what each new fact does to what is already known.

One batched LLM call for all new facts of an ``add``. The model sees the
existing memories and the new facts under short integer handles, never their
ids, so it cannot invent or mistype one; every decision it returns is checked
and anything unusable falls back to the safe choice, ADD (nothing is lost). An
answer with no usable decision at all is asked again; a fact still left without
one is added as new and marked ``unsettled`` (the caller says so, and leaves the
turn due for another pass).

Outcomes, per new fact:

- ``ADD``: a new memory.
- ``UPDATE`` target: the target's text becomes the merged ``text`` (its old
  text stays in the history).
- ``SUPERSEDE`` target: the target stops being valid at the new fact's event
  time (kept, searchable with ``as_of``) and the new fact is added.
- ``NOOP`` target: already known; nothing changes.
- ``DELETE`` target: the new fact says the target is no longer true; the
  target's validity ends (never destroyed) and nothing is added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from memoryd.ingest.extract import MAX_FACT_CHARS, fact_text, valid_items
from memoryd.models import MemoryRecord

__all__ = [
    "NO_DECISION",
    "Decision",
    "Reconciliation",
    "clipped",
    "decide",
    "reconcile_messages",
    "unnumbered",
]

Outcome = Literal["ADD", "UPDATE", "SUPERSEDE", "NOOP", "DELETE"]

_SYSTEM = """\
You keep a person's long-term memory consistent. You get EXISTING memories and \
NEW facts, each under a number. For every new fact choose one event:
- "ADD": new information not covered by any existing memory.
- "UPDATE": the same subject as existing memory "target" and compatible with it, but \
more complete; give "text", the merged memory keeping every detail of both.
- "SUPERSEDE": existing memory "target" WAS true but the new fact replaces it now \
(moved city, changed job, new favourite, a standing request changed: answer in English \
now, not French). The old memory is kept as history.
- "NOOP": existing memory "target" already says this.
- "DELETE": the new fact only says that existing memory "target" is no longer true \
("I don't have a dog anymore") and adds nothing else.
Return one JSON object, nothing else:
{"decisions": [{"fact": int, "event": "ADD"|"UPDATE"|"SUPERSEDE"|"NOOP"|"DELETE",
                "target": int | null, "text": str | null}]}
One decision per new fact. "target" is an EXISTING number; null for ADD.
"""


# What models say instead (mem0's prompt calls NOOP "NONE"): read as meant, not as an ADD.
_SYNONYMS = {"NONE": "NOOP", "NO_OP": "NOOP", "KEEP": "NOOP", "REPLACE": "SUPERSEDE", "REMOVE": "DELETE"}


def _handle(value: Any) -> Any:
    """A number of the prompt as models write it ("[1]", [1], "1") as the int it is; anything else
    as it is."""
    if isinstance(value, list) and len(value) == 1:  # "[1]": a handle written as in the prompt
        value = value[0]
    if isinstance(value, str):
        value = value.strip().strip("[]").strip()
        return int(value) if value.lstrip("-").isdigit() else value
    return value


# Keys models use instead of the prompt's (mem0's prompt names the memory "id"; others "action"): read
# as meant. Without any, a decision names no event, and is no decision: never read as an ADD, which
# stored a second copy of the memory the model UPDATEd ({"action": "UPDATE", "id": 0}) without a word.
_ALIASES = {
    "event": ("action", "operation", "op", "decision"),
    "target": ("target_id", "memory_id", "existing_id", "id", "existing", "memory"),
    "fact": ("fact_id", "new_fact", "fact_index", "new"),
    "text": ("merged_text", "new_text", "updated_text", "merged", "new_memory", "updated_memory"),
}


class _RawDecision(BaseModel):
    model_config = ConfigDict(extra="ignore")

    fact: int
    event: Outcome
    target: int | None = None
    text: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        """A field under another key models use (:data:`_ALIASES`), when its own is absent."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, others in _ALIASES.items():
            if name not in out:
                found = next((k for k in others if out.get(k) is not None), None)
                if found is not None:
                    out[name] = out[found]
        return out

    @field_validator("event", mode="before")
    @classmethod
    def _event(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        event = value.strip().upper()
        return _SYNONYMS.get(event, event)

    @field_validator("fact", mode="before")
    @classmethod
    def _fact(cls, value: Any) -> Any:
        return _handle(value)  # anything else: the item is refused

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> Any:
        value = _handle(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        """A merged text as an extracted fact's must be (else None: the UPDATE becomes a SUPERSEDE)."""
        return fact_text(value) if isinstance(value, str) else None


class Reconciliation(BaseModel):
    """What the reconciliation call must return."""

    model_config = ConfigDict(extra="ignore")

    decisions: list[_RawDecision]

    @model_validator(mode="before")
    @classmethod
    def _lone(cls, data: Any) -> Any:
        """One decision given without its list: alone ({"fact": 0, ...}, also once unwrapped from
        {"decision": {...}}) or as the one object of "decisions"."""
        if isinstance(data, dict) and "decisions" not in data and "fact" in data:
            return {"decisions": [data]}
        if isinstance(data, dict) and isinstance(data.get("decisions"), dict):
            return {**data, "decisions": [data["decisions"]]}
        return data

    @field_validator("decisions", mode="before")
    @classmethod
    def _decisions(cls, value: Any) -> Any:
        """An unusable item is dropped (its fact then defaults to ADD), not the whole answer; an
        answer with no usable item (none, or all keyed wrongly) is refused, so it is asked again:
        there is always at least one new fact to decide on."""
        if not isinstance(value, list):
            return value
        kept = valid_items(value, _RawDecision)
        if not kept:
            raise ValueError(
                "no decision has the shape asked for: one object per new fact, "
                '{"fact": int, "event": str, "target": int | null, "text": str | null}'
            )
        return kept


NO_DECISION = "no decision returned"
# An UPDATE whose merged text cannot be stored: the new fact replaces the memory instead
_NO_TEXT = f"the model's UPDATE gave no usable text: empty, over {MAX_FACT_CHARS} characters or not UTF-8"


@dataclass(frozen=True)
class Decision:
    """A checked decision for new fact ``fact``; ``target`` indexes the existing list."""

    fact: int
    event: Outcome
    target: int | None = None
    text: str | None = None
    note: str | None = None  # why a model decision was overridden
    # ADD because the model gave no usable decision for the fact: it may contradict or repeat a
    # memory the model was shown, so the add says so and its turns stay due for another pass
    unsettled: bool = False
    # The model's further decisions for this fact ("UPDATE of memory m-1"), not applied: one per fact,
    # its first, is; the others are said (:attr:`overruled`), never dropped without a word
    also: tuple[str, ...] = ()

    @property
    def overruled(self) -> str | None:
        """Why the model's further decisions for this fact were not applied, if it gave any."""
        if not self.also:
            return None
        also = " and ".join(self.also)
        return f"the model also decided {also} for this fact, not applied (only its first is)"


def reconcile_messages(existing: Sequence[MemoryRecord], facts: Sequence[str]) -> list[dict[str, str]]:
    lines = ["EXISTING memories:"]
    for i, m in enumerate(existing):
        since = f" (since {m.valid_from.date().isoformat()})"
        lines.append(f"[{i}] {m.text}{since}")
    lines.append("NEW facts:")
    lines.extend(f"[{i}] {text}" for i, text in enumerate(facts))
    lines.append('Answer with {"decisions": [...]}, one per new fact.')
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def decide(
    raw: Reconciliation | None,
    n_facts: int,
    n_existing: int,
    *,
    fallback: str,
    apart: Callable[[int, int], bool] | None = None,
    held: Callable[[int, str, int], bool] | None = None,
    ids: Sequence[str] | None = None,
) -> list[Decision]:
    """One checked decision per new fact, in order; unusable answers become ADD. ``apart(fact,
    target)``: whether the two are about different people (another speaker's statement and the
    user's profile): the fact is then added beside the memory, never changing nor restating it.
    ``held(fact, event, target)``: whether ``event`` would end existing memory ``target`` while a
    fact of the same add said after ``fact`` states it again word for word (the user's last word:
    it holds): such a decision is refused, its fact added as new and unsettled. ``ids``: the
    existing memories' ids, which a note names (the caller never saw the handles). Decisions
    numbered past the new facts: :func:`unnumbered`."""
    memory = _naming(ids)

    def said(d: _RawDecision) -> str:
        return _said(d, n_existing, memory)

    chosen: dict[int, Decision] = {}
    first: dict[int, _RawDecision] = {}
    also: dict[int, list[str]] = {}  # the model's further decisions per fact (a repeat of its first is none)
    raw_decisions = raw.decisions if raw is not None else []
    for d in raw_decisions:
        if not 0 <= d.fact < n_facts:
            continue
        if d.fact in chosen:
            if d != first[d.fact] and said(d) not in also.setdefault(d.fact, []):
                also[d.fact].append(said(d))
            continue
        first[d.fact] = d
        if d.event == "ADD":
            chosen[d.fact] = Decision(d.fact, "ADD")
        elif d.target is None or not 0 <= d.target < n_existing:
            note = f"{d.event} named no valid existing memory"
            chosen[d.fact] = Decision(d.fact, "ADD", note=note, unsettled=True)
        elif apart is not None and apart(d.fact, d.target):
            chosen[d.fact] = Decision(d.fact, "ADD", note=f"{memory(d.target)} is about someone else")
        elif d.event == "UPDATE" and not d.text:
            chosen[d.fact] = Decision(d.fact, "SUPERSEDE", d.target, note=_NO_TEXT)
        else:
            chosen[d.fact] = Decision(d.fact, d.event, d.target, d.text if d.event == "UPDATE" else None)
    for i in range(n_facts):
        if i not in chosen:
            chosen[i] = Decision(i, "ADD", note=fallback if raw is None else NO_DECISION, unsettled=True)
    # Two facts must not rewrite the same memory: the first claim wins, later ones ADD.
    claimed: set[int] = set()
    out: list[Decision] = []
    for i in range(n_facts):
        decision = chosen[i]
        target = decision.target
        if decision.event in ("UPDATE", "SUPERSEDE", "DELETE") and target is not None:
            if held is not None and held(i, decision.event, target):  # the user's later words
                note = f"{memory(target)} is stated again word for word later in this add"
                decision = _added(decision, note)
            elif target in claimed:
                note = f"{memory(target)} already changed by another fact"
                decision = _added(decision, note)  # two changes: left to settle
            else:
                claimed.add(target)
        out.append(replace(decision, also=tuple(also.get(i, ()))))
    # Nor may a fact be "already known" as a memory another fact of the same answer ends (one it
    # UPDATEs stays current, merged: known still).
    ended = {d.target for d in out if d.event in ("SUPERSEDE", "DELETE")}
    return [
        _added(d, f"{memory(d.target)} is ended by another fact")
        if d.event == "NOOP" and d.target is not None and d.target in ended
        else d
        for d in out
    ]


def unnumbered(raw: Reconciliation | None, n_facts: int, n_existing: int, ids: Sequence[str]) -> list[str]:
    """The decisions of ``raw`` numbered as none of the ``n_facts`` new facts (which :func:`decide`
    cannot apply), each once, as the model gave it ("fact 4: DELETE of memory m-1")."""
    memory = _naming(ids)
    out: list[str] = []
    for d in raw.decisions if raw is not None else []:
        said = f"fact {d.fact}: {_said(d, n_existing, memory)}"
        if not 0 <= d.fact < n_facts and said not in out:
            out.append(said)
    return out


def _naming(ids: Sequence[str] | None) -> Callable[[int], str]:
    """How a note names existing memory ``target``: by its id when ``ids`` are given."""

    def memory(target: int) -> str:
        return f"memory {ids[target]}" if ids is not None else f"memory [{target}]"

    return memory


def _said(d: _RawDecision, n_existing: int, memory: Callable[[int], str]) -> str:
    """A decision as the model gave it, its target named as the memory it is."""
    if d.event == "ADD":
        return "ADD"
    if d.target is None or not 0 <= d.target < n_existing:
        return f"{d.event} of no valid existing memory"
    text = f' into "{clipped(d.text)}"' if d.event == "UPDATE" and d.text else ""
    return f"{d.event} of {memory(d.target)}{text}"


def clipped(text: str, limit: int = 80) -> str:
    """``text`` as a note quotes it: cut at ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _added(d: Decision, note: str) -> Decision:
    """``d`` refused (``note`` says why): its fact added as new, unsettled (its turns left due)."""
    return replace(d, event="ADD", target=None, text=None, note=note, unsettled=True)
