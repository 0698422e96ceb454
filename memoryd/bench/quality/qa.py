"""The QA mode of a quality run: answer each question from its hits, grade the answer with an LLM judge.

:class:`LLMJudgeQA` is an :class:`~memoryd.bench.quality.runner.Answerer`. For
each question it gives the answering model the question (with LongMemEval's
``question_date``) and the top ``hits`` retrieved memories, in rank order, each
with its session's date and its speaker (role for LongMemEval), and asks for a
brief answer. A judge then labels that answer against the gold one, following
the LLM-as-a-judge ("J") protocol of LoCoMo as mem0 and others run it: given
the question, the gold answer and the generated answer, it answers
``{"label": "CORRECT" | "WRONG"}`` and is told to be generous (an answer that
says the same thing at greater length, or a date in another format, is
correct). Accuracy is CORRECT / judged.

What is judged, and where it counts (the ``groups`` the runner aggregates in):

* LoCoMo: categories 1-4 only, with or without evidence, in ``cat 1-4`` and their
  category; category 5 (adversarial) is skipped and marked so.
* LongMemEval: every question, in ``all`` and its question type; abstention
  questions (whose gold answer says the conversations do not hold the answer)
  also in ``abstention``.

A question whose answer or judgement fails (no target answered, or the judge's
reply is not a usable label after one re-ask) is a failure: counted in
``qa.failed``, left out of the accuracy, never a crash. Scores per question:
``accuracy`` (when judged), ``failed``, ``prompt_tokens`` and
``completion_tokens`` (answer and judge calls together) and
``answer.prompt_tokens`` / ``answer.completion_tokens`` (the answer alone).
Prompt building is pure (:func:`answer_messages`, :func:`judge_messages`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, field_validator

from memoryd.bench.quality.data import Benchmark, Question
from memoryd.bench.quality.longmemeval import parse_lme_date
from memoryd.bench.quality.systems import Retrieved
from memoryd.config import Settings
from memoryd.errors import LLMError, LLMUnavailableError
from memoryd.llm import Message, Router, Usage, build_router, build_targets, structured

__all__ = [
    "ABSTENTION_GROUP",
    "LLMJudgeQA",
    "Verdict",
    "answer_messages",
    "build_qa",
    "format_date",
    "judge_messages",
    "qa_groups",
]

ABSTENTION_GROUP = "abstention"
LOCOMO_JUDGED = (1, 2, 3, 4)

ANSWER_SYSTEM = """\
You answer questions about someone's past conversations. You are given memories: excerpts of those \
conversations, each with the date of its session and who said it.

- Answer from the memories only. If they do not hold the answer, say that it was not mentioned.
- Resolve relative times ("yesterday", "last week", "next month") against the date of the memory \
that uses them, and answer with the actual date, month or year (for example "7 May 2023").
- When memories disagree, the most recent one wins.
- Be brief: a few words or one short sentence, with no explanation."""

JUDGE_SYSTEM = """\
You grade answers to questions about past conversations. You are given a question, its gold \
(correct) answer and a generated answer; label the generated answer CORRECT or WRONG.

Be generous. The generated answer may be longer, phrased differently or give more detail: it is \
CORRECT when it states the same fact as the gold answer or is about the same thing. For dates and \
times it is CORRECT when it names the same date or period, in any format ("May 7th", "7 May 2023", \
"2023-05-07"), or a relative time that comes to the same date or period. It is WRONG when it names \
something else, contradicts the gold answer, or says it does not know while the gold answer gives \
one. When the gold answer says the question cannot be answered from the conversations, a generated \
answer that also says so (not mentioned, does not know) is CORRECT.

Reply with one JSON object and nothing else: {"reason": "<one short sentence>", "label": "CORRECT"} \
or the same with "WRONG"."""


class Verdict(BaseModel):
    """The judge's answer. The label is read leniently: case, spaces and punctuation do not matter."""

    reason: str = ""
    label: Literal["CORRECT", "WRONG"]

    @field_validator("label", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().strip(".!'\"` ").upper()
        return value


def format_date(value: datetime) -> str:
    """``Monday 8 May 2023, 13:56``: the weekday helps with "last Friday"."""
    return f"{value:%A} {value.day} {value:%B %Y}, {value:%H:%M}"


def _question_date(question: Question) -> str | None:
    raw = question.extra.get("question_date")
    if not raw:
        return None
    try:
        return format_date(parse_lme_date(str(raw)))
    except ValueError:
        return str(raw)


def answer_messages(
    question: str, memories: Sequence[str], question_date: str | None = None
) -> list[Message]:
    """The answering prompt: the memories (already formatted, best first), then the question."""
    listed = "\n".join(f"{n}. {m}" for n, m in enumerate(memories, start=1)) or "(no memories found)"
    when = f"Today is {question_date}.\n" if question_date else ""
    user = f"Memories:\n{listed}\n\n{when}Question: {question}\nAnswer:"
    return [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": user}]


def judge_messages(question: str, gold: str, generated: str) -> list[Message]:
    """The judge's prompt (LoCoMo's J protocol, in memoryd's words)."""
    user = f"Question: {question}\nGold answer: {gold}\nGenerated answer: {generated}"
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def qa_groups(dataset: str, question: Question) -> tuple[str, ...] | None:
    """The groups a question's QA scores count in; ``None`` when it is not judged."""
    if dataset == "locomo":
        category = question.extra.get("category")
        return ("cat 1-4", question.kind) if category in LOCOMO_JUDGED else None
    groups = ("all", question.kind)
    return (*groups, ABSTENTION_GROUP) if question.extra.get("abstention") else groups


@dataclasses.dataclass(frozen=True)
class _Context:
    date: datetime | None
    speaker: str


class LLMJudgeQA:
    """Answers with ``router``, judges with ``judge`` (default: the same router). ``async with`` it.

    ``hits`` memories (the top ones) go to the answer, each cut to ``memory_chars``.
    """

    def __init__(
        self,
        router: Router,
        *,
        dataset: str,
        judge: Router | None = None,
        hits: int = 10,
        memory_chars: int = 4000,
        answer_max_tokens: int = 200,
        judge_max_tokens: int = 300,
    ) -> None:
        if hits < 1:
            raise ValueError("hits must be at least 1")
        self.router = router
        self.judge = judge or router
        self.dataset = dataset
        self.hits = hits
        self.memory_chars = memory_chars
        self.answer_max_tokens = answer_max_tokens
        self.judge_max_tokens = judge_max_tokens
        # alias -> {scope (user id): context}: LoCoMo's aliases (dia_ids) recur in every conversation
        # and a LongMemEval session can carry another date in another question's haystack.
        self._context: dict[str, dict[str, _Context]] = {}
        self._scope_of: dict[str, str] = {}  # question id -> the user id it searches

    def prepare(self, bench: Benchmark) -> None:
        """Learn each turn's session date and speaker (the runner calls this once it has loaded the data)."""
        self._context = {}
        for u in bench.units:
            for s in u.sessions:
                for t in s.turns:
                    self._context.setdefault(t.alias, {})[u.user_id] = _Context(s.date, t.speaker or t.role)
        self._scope_of = {q.id: u.user_id for u in bench.units for q in u.questions}

    def _context_of(self, alias: str, scope: str | None) -> _Context | None:
        by_scope = self._context.get(alias, {})
        if scope is not None:
            return by_scope.get(scope)
        return next(iter(by_scope.values())) if len(by_scope) == 1 else None  # unambiguous only

    def describe(self) -> str:
        """One line for the report's notes: models, memories per question, what is judged."""
        judged = (
            "LoCoMo categories 1-4 (category 5 skipped)"
            if self.dataset == "locomo"
            else "every question (abstention ones also as 'abstention')"
        )
        return (
            f"QA mode: answers by {self.router.targets[0].model} from the top {self.hits} hits "
            f"(each with its session date and speaker), judged by {self.judge.targets[0].model} "
            f"(LLM-as-a-judge J protocol, CORRECT/WRONG); judged: {judged}; qa.accuracy = CORRECT / judged; "
            "questions whose answer or judgement failed count in qa.failed, not in the accuracy."
        )

    def memory_lines(self, hits: Sequence[Retrieved], question: Question | None = None) -> list[str]:
        """The top hits as the answer sees them: ``[date] speaker: text``, each turn's date and speaker
        those of the ``question``'s own conversation (without one, of the only turn with that alias)."""
        scope = self._scope_of.get(question.id) if question is not None else None
        lines = []
        for hit in hits[: self.hits]:
            context = next((c for a in hit.aliases if (c := self._context_of(a, scope)) is not None), None)
            text = " ".join(hit.text.split())
            if len(text) > self.memory_chars:
                text = text[: self.memory_chars] + "…"
            if context is None:
                lines.append(text)
                continue
            date = f"[{format_date(context.date)}] " if context.date else ""
            lines.append(f"{date}{context.speaker}: {text}")
        return lines

    async def __call__(self, question: Question, hits: Sequence[Retrieved]) -> dict[str, Any]:
        groups = qa_groups(self.dataset, question)
        if groups is None:
            category = question.extra.get("category")
            return {"skipped": f"category {category} is not judged (LoCoMo J protocol: categories 1-4)",
                    "scores": {}, "groups": []}  # fmt: skip
        memories = self.memory_lines(hits, question)
        out: dict[str, Any] = {"answer": None, "label": None, "judged": False, "memories": len(memories),
                               "groups": list(groups)}  # fmt: skip
        answer_usage = judge_usage = Usage()
        error: str | None = None
        try:
            completion = await self.router.complete(
                answer_messages(question.text, memories, _question_date(question)),
                max_tokens=self.answer_max_tokens,
            )
            answer_usage = completion.usage
            out["answer"] = completion.text.strip()
            verdict = await structured(
                self.judge,
                judge_messages(question.text, question.answer, out["answer"]),
                Verdict,
                max_tokens=self.judge_max_tokens,
                instruct=False,
            )
            judge_usage = verdict.usage
            if verdict.value is None:
                error = f"judge: {verdict.error}"
            else:
                out.update(label=verdict.value.label, reason=verdict.value.reason, judged=True)
        except (LLMError, LLMUnavailableError) as exc:
            error = ("judge: " if out["answer"] is not None else "answer: ") + exc.message
        total = answer_usage + judge_usage
        scores: dict[str, float] = {
            "failed": 0.0 if out["judged"] else 1.0,
            "prompt_tokens": total.prompt_tokens,
            "completion_tokens": total.completion_tokens,
            "answer.prompt_tokens": answer_usage.prompt_tokens,
            "answer.completion_tokens": answer_usage.completion_tokens,
        }
        if out["judged"]:
            scores["accuracy"] = 1.0 if out["label"] == "CORRECT" else 0.0
        out["error"] = error
        out["usage"] = {"answer": _usage(answer_usage), "judge": _usage(judge_usage)}
        out["scores"] = scores
        return out

    async def aclose(self) -> None:
        await self.router.aclose()
        if self.judge is not self.router:
            await self.judge.aclose()

    async def __aenter__(self) -> LLMJudgeQA:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _usage(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}


def _judge_router(settings: Settings, model: str, env: Mapping[str, str] | None) -> Router:
    """The configured targets with their model replaced by ``model`` (same vendors, keys, limits)."""
    config = settings.llm
    tiers = [[dataclasses.replace(t, model=model) for t in tier] for tier in build_targets(config, env)]
    return Router(
        tiers,
        max_attempts=config.max_attempts,
        breaker_failures=config.breaker_failures,
        breaker_cooldown_s=config.breaker_cooldown_s,
        max_wait_s=config.max_wait_s,
    )


def build_qa(
    settings: Settings,
    *,
    dataset: str,
    hits: int = 10,
    judge_model: str | None = None,
    env: Mapping[str, str] | None = None,
) -> LLMJudgeQA | None:
    """The QA answerer for the ``[llm]`` settings; ``None`` when no LLM is configured.

    ``judge_model`` judges with another model of the same targets. Raises
    :class:`~memoryd.errors.ConfigError` when the settings name an unusable target.
    """
    router = build_router(settings, env=env)
    if router is None:
        return None
    judge = _judge_router(settings, judge_model, env) if judge_model else None
    return LLMJudgeQA(router, dataset=dataset, judge=judge, hits=hits)
