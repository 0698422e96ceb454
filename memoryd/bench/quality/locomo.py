"""LoCoMo (Maharana et al., 2024): loading ``locomo10.json``-shaped files and scoring.

One :class:`~memoryd.bench.quality.data.Unit` per conversation (``user_id`` =
``sample_id``). Each session (``session_N``, dated by ``session_N_date_time``
such as ``"1:56 pm on 8 May, 2023"``) becomes a run; ``speaker_a``'s turns are
``user`` messages and ``speaker_b``'s ``assistant`` messages, each named after
its speaker. A turn that shares an image carries its caption in its text, as
``"… [image: a photo of …]"``. Turn keys are the ``dia_id``s; a question's gold
sessions are the sessions that hold its evidence turns (read from the file, not
from the ``D<session>`` prefix of the ids).

Scored: every question with evidence. Evidence ids are normalised
(``"D8:6; D9:17"`` is two ids, ``"D:11:26"`` is ``D11:26``, ``"D30:05"`` is
``D30:5``); ids that are still not of that form (``"D"``) or name no turn of
the conversation are dropped and counted in the notes. Metrics, for each k: turn-level ``turn.any@k`` and
``turn.fraction@k`` against the evidence dia_ids, and ``session.any@k``
against their sessions, where a turn ranking gives a session ranking by first
appearance. Aggregates: ``all`` (every question with evidence), ``cat 1-4``
(categories 1-4: no adversarial questions) and each category.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from memoryd.bench.quality.data import Benchmark, Question, Session, Turn, Unit, bad_entry, read_json
from memoryd.bench.quality.metrics import any_at, dedupe, fraction_at

__all__ = ["CATEGORIES", "load_locomo", "normalise_evidence", "parse_locomo_date", "score_locomo"]

# LoCoMo's own code labels the categories so.
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
_SESSION = re.compile(r"session_(\d+)")
_EVIDENCE = re.compile(r"D:?(\d+):(\d+)")


def parse_locomo_date(text: str) -> datetime:
    """``"1:56 pm on 8 May, 2023"`` -> 2023-05-08 13:56 UTC (the dataset gives no zone)."""
    try:
        parsed = datetime.strptime(" ".join(text.split()), "%I:%M %p on %d %B, %Y")
    except ValueError as exc:
        raise ValueError(f"not a LoCoMo date like '1:56 pm on 8 May, 2023': {text!r}") from exc
    return parsed.replace(tzinfo=UTC)


def _evidence_parts(ids: Sequence[str]) -> list[str]:
    """The evidence ids as listed, ``"D8:6; D9:17"`` split in two."""
    return [part for raw in ids for part in re.split(r"[;,\s]+", str(raw)) if part]


def normalise_evidence(ids: Sequence[str]) -> list[str]:
    """Split and repair evidence ids; anything that is not ``D<session>:<turn>`` is dropped."""
    out: list[str] = []
    for part in _evidence_parts(ids):
        match = _EVIDENCE.fullmatch(part)
        if match:
            out.append(f"D{int(match[1])}:{int(match[2])}")
    return dedupe(out)


def _category(value: Any) -> str:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return f"category {value}"
    return f"category {number} ({CATEGORIES.get(number, 'unknown')})"


def score_locomo(question: Question, ranked: Sequence[Turn], ks: Sequence[int]) -> dict[str, float]:
    """Turn any/fraction@k and session any@k; {} for a question without evidence."""
    if not question.gold_turns:
        return {}
    turns = [t.key for t in ranked]
    sessions = dedupe(t.session for t in ranked)
    out: dict[str, float] = {}
    for k in ks:
        out[f"turn.any@{k}"] = any_at(turns, question.gold_turns, k)
        out[f"turn.fraction@{k}"] = fraction_at(turns, question.gold_turns, k)
        out[f"session.any@{k}"] = any_at(sessions, question.gold_sessions, k)
    return out


def _sessions(conv: dict[str, Any]) -> tuple[list[Session], int]:
    roles = {conv.get("speaker_a"): "user", conv.get("speaker_b"): "assistant"}
    numbered = sorted((int(m[1]), key) for key in conv if (m := _SESSION.fullmatch(key)))
    sessions: list[Session] = []
    skipped = 0
    for _, key in numbered:
        date_text = conv.get(f"{key}_date_time")
        turns = []
        for raw in conv[key] or []:
            text = str(raw.get("text") or "").strip()
            caption = str(raw.get("blip_caption") or "").strip()
            if caption:
                text = f"{text} [image: {caption}]".strip()
            if not text:
                skipped += 1
                continue
            speaker = raw.get("speaker")
            dia = str(raw["dia_id"])
            turns.append(Turn(dia, dia, key, roles.get(speaker, "user"), speaker, text))
        date = parse_locomo_date(date_text) if date_text else None
        sessions.append(Session(key, key, date, tuple(turns)))
    return sessions, skipped


def load_locomo(path: str | Path, limit: int | None = None) -> Benchmark:
    """Load a LoCoMo file (``.json`` or ``.json.gz``); ``limit`` keeps the first conversations."""
    samples = read_json(path)
    if not isinstance(samples, list) or not all(isinstance(s, dict) and "qa" in s for s in samples):
        raise ValueError(f"{path} is not a LoCoMo file (a list of samples with 'conversation' and 'qa')")
    samples = samples[:limit] if limit is not None else samples
    units: list[Unit] = []
    dropped = unparsed = no_evidence = skipped = 0
    for index, sample in enumerate(samples):
        try:
            sample_id = str(sample["sample_id"])
            sessions, empty = _sessions(sample["conversation"])
            skipped += empty
            session_of_turn = {t.key: s.id for s in sessions for t in s.turns}
            questions = []
            for n, qa in enumerate(sample["qa"]):
                evidence = normalise_evidence(qa.get("evidence") or [])
                unparsed += sum(not _EVIDENCE.fullmatch(p) for p in _evidence_parts(qa.get("evidence") or []))
                gold = [e for e in evidence if e in session_of_turn]
                dropped += len(evidence) - len(gold)
                kind = _category(qa.get("category"))
                groups: tuple[str, ...] = ()
                if gold:
                    in_1_4 = qa.get("category") in (1, 2, 3, 4)
                    groups = ("all", *(("cat 1-4",) if in_1_4 else ()), kind)
                else:
                    no_evidence += 1
                answer = qa.get("answer", qa.get("adversarial_answer", ""))
                questions.append(
                    Question(
                        f"{sample_id}/q{n}", str(qa["question"]), kind, str(answer), frozenset(gold),
                        frozenset(session_of_turn[e] for e in gold), groups,
                        {"evidence_raw": list(qa.get("evidence") or []), "category": qa.get("category")},
                    )
                )  # fmt: skip
            units.append(Unit(sample_id, tuple(sessions), tuple(questions)))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise bad_entry(path, "LoCoMo", f"sample {index}", exc) from exc
    kinds = sorted({q.kind for u in units for q in u.questions if q.groups})
    notes = [
        "Questions scored: those with evidence (after normalisation); 'all' includes category 5 "
        "(adversarial), 'cat 1-4' excludes it.",
        f"Questions without usable evidence (not scored): {no_evidence}.",
        f"Evidence ids naming no turn of their conversation (dropped): {dropped}.",
        f"Evidence ids that are not D<session>:<turn> even after repair, such as 'D' (dropped): {unparsed}.",
        "Session ranking: a search's turn ranking, sessions taken in order of first appearance.",
        "Roles: speaker_a -> user, speaker_b -> assistant, name = speaker; image captions appended "
        "as '[image: caption]'.",
    ]
    if skipped:
        notes.append(f"Turns with no text (not ingested): {skipped}.")
    return Benchmark(
        name="locomo",
        source=str(path),
        units=tuple(units),
        score=score_locomo,
        headline=tuple(
            (group, metric)
            for group in ("cat 1-4", "all")
            for metric in (
                "turn.any@1",
                "turn.any@5",
                "turn.any@10",
                "turn.fraction@5",
                "turn.fraction@10",
                "session.any@1",
                "session.any@3",
                "session.any@5",
            )
        ),  # fmt: skip
        curves=(
            ("cat 1-4", "turn.any", "LoCoMo turn any@k (cat 1-4)"),
            ("cat 1-4", "session.any", "LoCoMo session any@k (cat 1-4)"),
        ),  # fmt: skip
        groups=("all", "cat 1-4", *kinds),
        breakdown=("turn.any@5", "turn.any@10", "turn.fraction@10", "session.any@5"),
        targets={
            (g, m): v for g in ("cat 1-4", "all") for m, v in (("turn.any@10", 0.80), ("session.any@5", 0.95))
        },
        notes=tuple(notes),
    )
