"""What a retrieval-quality benchmark is made of: turns, sessions, questions, units.

Both datasets load into the same shapes. A :class:`Unit` is one user scope —
a LoCoMo conversation or a LongMemEval question's haystack — holding sessions
of turns and the questions asked of them. Systems only ever see a turn's and a
session's ``alias`` (never the dataset's ids, which can carry gold labels such
as LongMemEval's ``answer_…`` session ids); the runner maps aliases back to
dataset keys before scoring.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["Benchmark", "Question", "Scorer", "Session", "Turn", "Unit", "bad_entry", "read_json"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One dialogue turn."""

    key: str  # dataset id: LoCoMo dia_id ("D3:7"), LongMemEval "{session_id}_{n}" (n from 1)
    alias: str  # the id systems see
    session: str  # dataset session id
    role: str  # "user" | "assistant"
    speaker: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Session:
    """One conversation session: its turns share a date and a ``run_id``."""

    id: str
    alias: str
    date: datetime | None
    turns: tuple[Turn, ...]


@dataclass(frozen=True, slots=True)
class Question:
    """One question and its gold evidence (dataset keys, never shown to a system)."""

    id: str
    text: str
    kind: str  # LongMemEval question_type, LoCoMo "category N (label)"
    answer: str
    gold_turns: frozenset[str]
    gold_sessions: frozenset[str]
    groups: tuple[str, ...]  # the aggregates it counts in
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    """One user scope: what is ingested for it, and what is asked of it."""

    user_id: str
    sessions: tuple[Session, ...]
    questions: tuple[Question, ...]

    @property
    def turn_count(self) -> int:
        return sum(len(s.turns) for s in self.sessions)

    def turns_by_alias(self) -> dict[str, Turn]:
        return {t.alias: t for s in self.sessions for t in s.turns}


# score(question, ranked turns best first, ks) -> {metric: value}; {} when the question is not scored.
Scorer = Callable[[Question, Sequence[Turn], Sequence[int]], dict[str, float]]


@dataclass(frozen=True)
class Benchmark:
    """A loaded dataset and how to score and show it."""

    name: str
    source: str
    units: tuple[Unit, ...]
    score: Scorer
    headline: tuple[tuple[str, str], ...]  # (group, metric) rows of the summary table
    curves: tuple[tuple[str, str, str], ...]  # (group, metric prefix before "@", plot title)
    groups: tuple[str, ...]  # breakdown order
    breakdown: tuple[str, ...]  # metrics shown per group
    targets: Mapping[tuple[str, str], float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # The scorer ranks user turns only: a search must go deep enough to hold max(k) of them.
    user_turn_depth: bool = False

    @property
    def question_count(self) -> int:
        return sum(len(u.questions) for u in self.units)

    @property
    def turn_count(self) -> int:
        return sum(u.turn_count for u in self.units)


def read_json(path: str | Path) -> Any:
    """Read a ``.json`` or ``.json.gz`` file (gzip is detected by its magic bytes); a file that is
    not JSON (or a damaged gzip) is a ``ValueError`` naming the file."""
    file = Path(path)
    with file.open("rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    try:
        if gzipped:
            with gzip.open(file, "rt", encoding="utf-8") as fh:
                return json.load(fh)
        with file.open(encoding="utf-8") as fh:
            return json.load(fh)
    except (ValueError, EOFError, gzip.BadGzipFile) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path} is not a JSON file (.json or .json.gz): {exc}") from exc


def bad_entry(path: str | Path, dataset: str, where: str, exc: Exception) -> ValueError:
    """The error for a dataset file whose entry ``where`` lacks a field or holds the wrong type."""
    what = f"it has no field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
    return ValueError(f"{path} is not a {dataset} file: {where}: {what}")
