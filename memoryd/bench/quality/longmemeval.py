"""LongMemEval (Wu et al., ICLR 2025): loading ``longmemeval_s``-shaped files and scoring.

One :class:`~memoryd.bench.quality.data.Unit` per question: its haystack is
ingested under its own user. Sessions are dated by ``haystack_dates``
(``"2023/05/20 (Sat) 02:21"``). Turn keys follow the official corpus ids,
``"{session_id}_{n}"`` with ``n`` counted from 1 over every turn of the session.
Session and user ids are hashed before any system sees them: evidence
sessions are named ``answer_…`` and abstention questions ``…_abs``, so the raw
ids would hand gold labels to the system under test. ``has_answer`` is never
ingested either.

Two protocols, both over the non-abstention questions:

* community, session level: ``session.recall_any@k``, ``session.recall_all@k``
  and ``session.ndcg@k`` (textbook binary nDCG) against ``answer_session_ids``;
  the search's turn ranking gives the session ranking by first appearance;
* official (the paper's ``src/retrieval``), turn level: keys are user turns and
  gold is the user turns marked ``has_answer``; questions with no such turn are
  left out. The official retriever indexes user turns only, so assistant turns
  are removed from the search's ranking before the top k is taken (the user
  turns keep their relative order); the runner searches deeper until the
  ranking holds ``max(k)`` user turns (``Benchmark.user_turn_depth``). ``official.recall_all@k``,
  ``official.recall_any@k`` and ``official.ndcg_any@k`` (LongMemEval's nDCG
  variant, see :mod:`memoryd.bench.quality.metrics`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from memoryd.bench.quality.data import Benchmark, Question, Session, Turn, Unit, bad_entry, read_json
from memoryd.bench.quality.metrics import all_at, any_at, dedupe, ndcg_at, ndcg_lme_at

__all__ = ["load_longmemeval", "parse_lme_date", "score_longmemeval"]


def parse_lme_date(text: str) -> datetime:
    """``"2023/05/20 (Sat) 02:21"`` -> 2023-05-20 02:21 UTC (the dataset gives no zone)."""
    parts = text.split()
    try:
        if len(parts) == 3:
            parsed = datetime.strptime(f"{parts[0]} {parts[2]}", "%Y/%m/%d %H:%M")
        else:
            parsed = datetime.strptime(parts[0], "%Y/%m/%d")
    except (ValueError, IndexError) as exc:
        raise ValueError(f"not a LongMemEval date like '2023/05/20 (Sat) 02:21': {text!r}") from exc
    return parsed.replace(tzinfo=UTC)


def _opaque(prefix: str, value: str) -> str:
    return prefix + hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


def score_longmemeval(question: Question, ranked: Sequence[Turn], ks: Sequence[int]) -> dict[str, float]:
    """Community session-level and official turn-level metrics; {} for abstention questions."""
    if question.extra.get("abstention") or not question.gold_sessions:
        return {}
    sessions = dedupe(t.session for t in ranked)
    out: dict[str, float] = {}
    for k in ks:
        out[f"session.recall_any@{k}"] = any_at(sessions, question.gold_sessions, k)
        out[f"session.recall_all@{k}"] = all_at(sessions, question.gold_sessions, k)
        out[f"session.ndcg@{k}"] = ndcg_at(sessions, question.gold_sessions, k)
    if question.gold_turns:
        user_turns = [t.key for t in ranked if t.role == "user"]
        for k in ks:
            out[f"official.recall_any@{k}"] = any_at(user_turns, question.gold_turns, k)
            out[f"official.recall_all@{k}"] = all_at(user_turns, question.gold_turns, k)
            out[f"official.ndcg_any@{k}"] = ndcg_lme_at(user_turns, question.gold_turns, k)
    return out


def _unit(entry: dict[str, Any]) -> tuple[Unit, int]:
    sessions: list[Session] = []
    gold_turns: list[str] = []
    skipped = 0
    for sid, date, raw_turns in zip(
        entry["haystack_session_ids"], entry["haystack_dates"], entry["haystack_sessions"], strict=True
    ):
        sid = str(sid)
        alias = _opaque("s", sid)
        turns = []
        for n, raw in enumerate(raw_turns, start=1):
            text, role = str(raw.get("content") or ""), str(raw.get("role") or "user")
            if role == "user" and raw.get("has_answer"):
                gold_turns.append(f"{sid}_{n}")
            if not text.strip():
                skipped += 1
                continue
            turns.append(Turn(f"{sid}_{n}", f"{alias}_{n}", sid, role, None, text))
        sessions.append(Session(sid, alias, parse_lme_date(str(date)) if date else None, tuple(turns)))
    qid = str(entry["question_id"])
    abstention = qid.endswith("_abs")
    kind = str(entry.get("question_type") or "unknown")
    question = Question(
        qid, str(entry["question"]), kind, str(entry.get("answer", "")), frozenset(gold_turns),
        frozenset(str(s) for s in entry.get("answer_session_ids") or []),
        () if abstention else ("all", kind),
        {"abstention": abstention, "question_date": entry.get("question_date"),
         "official_scored": not abstention and bool(gold_turns)},
    )  # fmt: skip
    return Unit(_opaque("q", qid), tuple(sessions), (question,)), skipped


def load_longmemeval(path: str | Path, limit: int | None = None) -> Benchmark:
    """Load a LongMemEval file (``.json`` or ``.json.gz``); ``limit`` keeps the first questions."""
    entries = read_json(path)
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and "haystack_sessions" in e for e in entries
    ):
        raise ValueError(f"{path} is not a LongMemEval file (a list of questions with 'haystack_sessions')")
    entries = entries[:limit] if limit is not None else entries
    units, skipped = [], 0
    for index, entry in enumerate(entries):
        try:
            unit, empty = _unit(entry)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise bad_entry(path, "LongMemEval", f"question {index}", exc) from exc
        units.append(unit)
        skipped += empty
    questions = [q for u in units for q in u.questions]
    abstention = sum(1 for q in questions if q.extra["abstention"])
    official = sum(1 for q in questions if q.extra["official_scored"])
    kinds = sorted({q.kind for q in questions if q.groups})
    notes = [
        f"Questions: {len(questions)}; abstention (not scored): {abstention}; community session-level "
        f"metrics over {len(questions) - abstention}; official turn-level metrics over {official} "
        "(non-abstention questions with a user turn marked has_answer).",
        "Community protocol: session ranking = the search's turn ranking, sessions in order of first "
        "appearance; session.ndcg@k is textbook binary nDCG over answer_session_ids.",
        "Official protocol: assistant turns are removed from the ranking (LongMemEval's retriever indexes "
        "user turns only), then recall_all@k / ndcg_any@k (LongMemEval's nDCG: ranks 1 and 2 both "
        "undiscounted) over user turns with has_answer. A search whose max(k) hits hold fewer than max(k) "
        "user turns is repeated with twice the limit until they do (or it returns every turn); the "
        "deepest search is scored and recorded, latency is the first search's.",
        "Session, turn and user ids are hashed before ingestion (raw ids carry labels: answer_*, *_abs); "
        "has_answer is never ingested.",
    ]
    if skipped:
        notes.append(f"Turns with empty content (not ingested, cannot be retrieved): {skipped}.")
    repeated = sum(len(u.sessions) - len({s.id for s in u.sessions}) for u in units)
    if repeated:
        notes.append(
            f"Sessions listed twice in one haystack (same id and turns, another date): {repeated}; "
            "both copies are added under the same run_id (memoryd keeps one, as exact duplicates)."
        )
    return Benchmark(
        name="longmemeval",
        source=str(path),
        units=tuple(units),
        score=score_longmemeval,
        headline=tuple(
            ("all", m)
            for m in (
                "session.recall_any@1",
                "session.recall_any@5",
                "session.recall_any@10",
                "session.recall_all@5",
                "session.recall_all@10",
                "session.ndcg@10",
                "official.recall_all@5",
                "official.recall_all@10",
                "official.ndcg_any@5",
                "official.ndcg_any@10",
            )
        ),  # fmt: skip
        curves=(
            ("all", "session.recall_any", "LongMemEval session recall_any@k"),
            ("all", "official.recall_all", "LongMemEval official recall_all@k (user turns)"),
        ),  # fmt: skip
        groups=("all", *kinds),
        breakdown=(
            "session.recall_any@1",
            "session.recall_any@5",
            "session.recall_all@5",
            "official.recall_all@5",
            "session.ndcg@10",
        ),  # fmt: skip
        targets={("all", "session.recall_any@5"): 0.985, ("all", "official.recall_all@5"): 0.90},
        notes=tuple(notes),
        user_turn_depth=True,
    )
