"""Showing a quality run: markdown report, JSON document, recall@k plot, console table.

:func:`write_reports` writes ``report.md``, ``report.json`` and
``recall_at_k.png`` next to the per-question JSONL files the runner wrote.
The plot needs matplotlib (the ``bench`` extra), imported only here and with
the Agg backend; without it the plot is skipped and the report says so. A run
with the QA mode (:mod:`memoryd.bench.quality.qa`) adds a QA section: accuracy
per group, tokens per question and LLM failures (:func:`qa_rows`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from memoryd.bench.quality.results import QualityResult, SystemRun

__all__ = [
    "SCHEMA",
    "headline_rows",
    "markdown",
    "plot",
    "print_quality_report",
    "qa_markdown",
    "qa_rows",
    "summary_markdown",
    "to_json",
    "write_reports",
]

SCHEMA = "memoryd.bench.quality/1"
_TITLES = {"locomo": "LoCoMo", "longmemeval": "LongMemEval"}


def _measured(result: QualityResult) -> list[SystemRun]:
    return [run for run in result.systems.values() if run.status == "measured"]


def _cell(run: SystemRun, group: str, metric: str) -> dict[str, float] | None:
    return run.aggregates.get(group, {}).get(metric)


def _count(result: QualityResult, group: str, metric: str) -> int | None:
    for run in _measured(result):
        cell = _cell(run, group, metric)
        if cell is not None:
            return int(cell["n"])
    return None


def headline_rows(result: QualityResult) -> list[dict[str, Any]]:
    """The summary table as data: one row per headline metric, then timings."""
    targets = {(g, m): v for g, m, v in result.targets}
    runs = _measured(result)
    rows: list[dict[str, Any]] = []
    for group, metric in result.headline:
        values = {}
        for run in runs:
            cell = _cell(run, group, metric)
            values[run.name] = None if cell is None else cell["mean"]
        rows.append({"metric": metric, "group": group, "n": _count(result, group, metric),
                     "values": values, "target": targets.get((group, metric))})  # fmt: skip
    timing = {
        "ingest (s)": {r.name: r.ingest_s for r in runs},
        "search p50 (ms)": {r.name: r.search.p50_ms if r.search else None for r in runs},
        "search p95 (ms)": {r.name: r.search.p95_ms if r.search else None for r in runs},
        "first search of a scope, p95 (ms)": {
            r.name: r.first_search.p95_ms if r.first_search else None for r in runs
        },
    }
    for label, values in timing.items():
        rows.append({"metric": label, "group": "", "n": None, "values": values, "target": None})
    return rows


# QA scores (qa.<name>) shown per question, mean over the questions answered.
_QA_TOKENS = (
    ("prompt tokens per question", "qa.prompt_tokens"),
    ("completion tokens per question", "qa.completion_tokens"),
    ("answer prompt tokens per question", "qa.answer.prompt_tokens"),
    ("answer completion tokens per question", "qa.answer.completion_tokens"),
)


def _qa_groups(result: QualityResult) -> list[str]:
    """Groups holding QA scores: the report's first such group (the overall one), then the rest sorted
    (question types and categories, with groups the retrieval report lacks: ``abstention``, a category
    whose questions all lack evidence)."""
    found = {g for run in _measured(result) for g, cells in run.aggregates.items() if "qa.failed" in cells}
    head = [g for g in result.groups if g in found][:1]
    return head + sorted(found - set(head))


def qa_rows(result: QualityResult) -> dict[str, Any] | None:
    """The QA section as data, or None when the run had no QA mode.

    ``accuracy``: per group, each system's CORRECT / judged and how many were judged.
    ``overall`` is the group that holds every question answered (the largest);
    tokens per question and failures are over it.
    """
    groups = _qa_groups(result)
    if not groups:
        return None
    runs = _measured(result)

    def n_of(group: str) -> int:
        return max(int((_cell(r, group, "qa.failed") or {"n": 0})["n"]) for r in runs)

    overall = max(groups, key=n_of)  # max keeps the first of equals: the report's order
    accuracy = []
    for group in groups:
        cells = {r.name: _cell(r, group, "qa.accuracy") for r in runs}
        accuracy.append({
            "group": group, "answered": n_of(group),
            "values": {name: None if c is None else c["mean"] for name, c in cells.items()},
            "judged": {name: 0 if c is None else int(c["n"]) for name, c in cells.items()},
        })  # fmt: skip
    per_question = []
    for label, metric in _QA_TOKENS:
        values = {r.name: (_cell(r, overall, metric) or {}).get("mean") for r in runs}
        per_question.append({"metric": label, "values": values})
    failures = {}
    for run in runs:
        cell = _cell(run, overall, "qa.failed")
        failures[run.name] = None if cell is None else round(cell["mean"] * cell["n"])
    return {"overall": overall, "accuracy": accuracy, "per_question": per_question, "failures": failures}


def qa_markdown(result: QualityResult) -> str:
    """The QA tables (accuracy per group; tokens and failures), or '' without a QA mode."""
    data = qa_rows(result)
    if data is None:
        return ""
    names = [r.name for r in _measured(result)]
    rows = []
    for row in data["accuracy"]:
        best = _best(row["values"], "accuracy")
        shown = {n: _fmt(row["values"][n], "accuracy") for n in names}
        cells = [f"**{shown[n]}**" if n in best else shown[n] for n in names]
        judged = " / ".join(str(row["judged"][n]) for n in names)
        rows.append([row["group"], str(row["answered"]), judged, *cells])
    align = ["---", "--:", "--:", *["--:"] * len(names)]
    lines = _table_md(["group", "answered", "judged", *names], rows, align)
    lines += ["", f"Over {data['overall']}:", ""]
    body = [[r["metric"], *[_fmt(r["values"][n], "(mean)") for n in names]] for r in data["per_question"]]
    body.append(["LLM failures (not judged)", *[str(data["failures"][n]) for n in names]])
    lines += _table_md(["", *names], body, ["---", *["--:"] * len(names)])
    return "\n".join(lines) + "\n"


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "—"
    if metric.endswith("(s)"):
        return f"{value:,.1f}"
    if metric.endswith("(ms)"):
        return f"{value:.2f}"
    if metric.endswith("(mean)"):
        return f"{value:,.1f}"
    return f"{value:.3f}"


def _best(values: dict[str, float | None], metric: str) -> set[str]:
    known = {k: v for k, v in values.items() if v is not None}
    if len(known) < 2 or metric.endswith(")"):
        return set()
    top = max(known.values())
    return {k for k, v in known.items() if v == top}


def _table_md(header: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def summary_markdown(result: QualityResult) -> str:
    """The summary table (headline metrics, timings), systems side by side, best in bold."""
    names = [r.name for r in _measured(result)]
    rows = []
    for row in headline_rows(result):
        best = _best(row["values"], row["metric"])
        cells = [f"**{_fmt(row['values'].get(n), row['metric'])}**" if n in best
                 else _fmt(row["values"].get(n), row["metric"]) for n in names]  # fmt: skip
        target = "" if row["target"] is None else f"≥ {row['target']:g}"
        rows.append([row["metric"], row["group"], "" if row["n"] is None else str(row["n"]), *cells, target])
    align = ["---", "---", "--:", *["--:"] * len(names), "--:"]
    return "\n".join(_table_md(["metric", "over", "n", *names, "target"], rows, align)) + "\n"


def markdown(result: QualityResult) -> str:
    """The whole report as markdown."""
    runs = _measured(result)
    names = [r.name for r in runs]
    title = _TITLES.get(result.dataset, result.dataset)
    emb = result.embedder
    lines = [
        f"# memoryd bench {result.dataset}: {title} retrieval quality",
        "",
        f"Data `{result.source}`: {result.counts.get('units')} scopes, {result.counts.get('questions')} "
        f"questions, {result.counts.get('turns')} turns. Embedder `{emb.get('name')}` ({emb.get('dim')}-d). "
        f"Started {result.started_at}, took {result.duration_s:,.0f} s. "
        f"Search limit {max(result.config.get('eval_ks') or [0])}.",
        "",
        "## Summary",
        "",
        "Best value of each row in bold; `n` is the number of questions the metric averages over.",
        "",
    ]
    lines += summary_markdown(result).splitlines()
    for metric in result.breakdown:
        lines += ["", f"## {metric} by question type", ""]
        body = []
        for group in result.groups:
            n = _count(result, group, metric)
            if n is None:
                continue
            values = {r.name: (_cell(r, group, metric) or {}).get("mean") for r in runs}
            best = _best(values, metric)
            body.append([group, str(n), *[f"**{_fmt(values[x], metric)}**" if x in best
                                          else _fmt(values[x], metric) for x in names]])  # fmt: skip
        lines += _table_md(["group", "n", *names], body, ["---", "--:", *["--:"] * len(names)])
    qa = qa_markdown(result)
    if qa:
        lines += ["", "## QA accuracy (LLM judge)", "",
                  "CORRECT / judged per group, best in bold; `judged` per system, in column order. "
                  "Tokens are means per question answered, answer and judge calls together unless named.",
                  ""]  # fmt: skip
        lines += qa.splitlines()
    lines += ["", "## Systems", ""]
    for name, run in result.systems.items():
        if run.status != "measured":
            lines.append(f"- **{name}**: {run.status}")
            continue
        stats = ", ".join(f"{k} {json.dumps(v)}" for k, v in run.stats.items())
        lines.append(
            f"- **{name}**: ingest {run.ingest_s:,.1f} s; {stats}; per question: `{run.questions_file}`"
        )
    lines += ["", "## Notes", ""]
    lines += [f"- {note}" for note in result.notes]
    settings = ", ".join(f"`{k}` = {json.dumps(v)}" for k, v in result.settings.items() if k != "search")
    search = json.dumps(result.settings.get("search"))
    lines.append(f"- memoryd settings changed by the harness: {settings}; search settings: `{search}`.")
    lines.append(
        "- Search latency includes embedding the query (the embedding cache is off while searching). "
        "Each scope gets one unscored warm-up search first (it loads the scope's index partitions; "
        "timed as 'first search of a scope'), so 'search p50/p95' are warm searches. Ingest time "
        "includes embedding only the texts the cache did not hold."
    )
    share = result.machine.get("other_cpu_share")
    lines.append(f"- Machine: {result.machine.get('cpu')}, {result.machine.get('usable_cores')} cores; "
                 f"other processes' CPU share during the run: {share}.")  # fmt: skip
    return "\n".join(lines) + "\n"


def to_json(result: QualityResult) -> dict[str, Any]:
    """Everything as plain data, with the summary rows."""
    doc = {"schema": SCHEMA, **result.to_dict(), "summary": headline_rows(result)}
    qa = qa_rows(result)
    if qa is not None:
        doc["qa"] = qa
    return doc


def plot(result: QualityResult, path: Path) -> Path | None:
    """recall@k curves, one panel per curve, one line per system; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    ks = list(result.config.get("eval_ks") or [])
    runs = _measured(result)
    fig, axes = plt.subplots(1, len(result.curves), figsize=(6 * len(result.curves), 4.2), squeeze=False)
    for ax, (group, prefix, title) in zip(axes[0], result.curves):
        for run in runs:
            points = [(k, cell["mean"]) for k in ks if (cell := _cell(run, group, f"{prefix}@{k}"))]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=run.name)
        ax.set_xscale("log")
        ax.set_xticks(ks)
        ax.set_xticklabels([str(k) for k in ks])
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("k")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(result: QualityResult, out: Path) -> dict[str, str]:
    """Write report.md, report.json and recall_at_k.png into ``out``; return what was written."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {"markdown": str(out / "report.md"), "json": str(out / "report.json")}
    png = plot(result, out / "recall_at_k.png")
    if png is None:
        result.notes.append("No plot: matplotlib is not installed (pip install 'memoryd[bench]').")
    else:
        written["plot"] = str(png)
    for run in result.systems.values():
        if run.questions_file:
            written[f"questions ({run.name})"] = str(out / run.questions_file)
    result.files = written
    Path(written["markdown"]).write_text(markdown(result), encoding="utf-8")
    doc = json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n"
    Path(written["json"]).write_text(doc, encoding="utf-8")
    return written


def print_quality_report(result: QualityResult, console: Console | None = None) -> None:
    """The markdown summary table on the console, then skipped systems and where the files are."""
    console = console or Console()
    console.print(f"memoryd bench {result.dataset} ({result.counts.get('questions')} questions, "
                  f"{result.duration_s:,.0f} s)", markup=False, highlight=False)  # fmt: skip
    console.print(summary_markdown(result), markup=False, highlight=False, soft_wrap=True)
    qa = qa_markdown(result)
    if qa:
        console.print("QA accuracy (LLM judge)", markup=False, highlight=False)
        console.print(qa, markup=False, highlight=False, soft_wrap=True)
    for name, run in result.systems.items():
        if run.status != "measured":
            console.print(f"[yellow]{escape(name)}: {escape(run.status)}[/]")
    for what, path in result.files.items():
        console.print(f"[dim]{escape(what)}: {escape(str(path))}[/]")
