"""A damaged or hand-edited export is refused before anything is written, naming its line:
never a traceback, never a half-imported store, never rows an export cannot write back out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import InvalidInputError
from memoryd.models import Scope
from memoryd.portability import export_store, import_store
from tests.portability.conftest import store_settings

Cli = Callable[..., Result]


async def _export(tmp_path: Path, embedder: USEEmbedder) -> list[str]:
    source = store_settings(tmp_path / "source.db")
    async with AsyncMemory(source, embedder=embedder) as mem:
        await mem.add(["I adopted a dog", "She is called Biscuit"], user_id="ana", run_id="s1",
                      metadata={"n": 1})  # fmt: skip
        out = tmp_path / "all.jsonl"
        await export_store(mem, out)
    return out.read_text(encoding="utf-8").splitlines()


def _first(text: list[str], kind: str) -> int:
    return next(i for i, line in enumerate(text) if json.loads(line)["type"] == kind)


def _edit(text: list[str], kind: str, raw: Callable[[dict[str, object]], str]) -> list[str]:
    i = _first(text, kind)
    return [*text[:i], raw(json.loads(text[i])), *text[i + 1 :]]


def _dumps(doc: dict[str, object]) -> str:
    return json.dumps(doc, ensure_ascii=False)


def _duplicate_memory(text: list[str]) -> list[str]:
    i = _first(text, "memory")
    end = json.loads(text[-1])
    end["counts"]["memory"] += 1
    return [*text[: i + 1], text[i], *text[i + 1 : -1], json.dumps(end)]


BROKEN: dict[str, tuple[Callable[[list[str]], list[str]], str]] = {
    "type not a string": (
        lambda t: _edit(t, "memory", lambda d: _dumps({**d, "type": ["memory"]})),
        r"line 2: unknown type \['memory'\]",
    ),
    "nested past the parser": (
        lambda t: [t[0], "[" * 100_000 + "]" * 100_000, *t[1:]],
        "line 2: nested too deeply",
    ),
    "NaN in metadata": (
        lambda t: _edit(t, "memory", lambda d: json.dumps({**d, "metadata": {"x": float("nan")}})),
        "line 2: not JSON .*NaN",
    ),
    "lone surrogate in the text": (
        lambda t: _edit(t, "memory", lambda d: json.dumps({**d, "text": "a\ud800b"})),
        "line 2: 'text' is not valid Unicode text",
    ),
    "lone surrogate in a metadata key": (
        lambda t: _edit(t, "memory", lambda d: json.dumps({**d, "metadata": {"k\udfff": 1}})),
        "line 2: 'metadata' is not valid Unicode text",
    ),
    "empty memory id": (
        lambda t: _edit(t, "memory", lambda d: _dumps({**d, "id": ""})),
        "line 2: 'id' must be a non-empty string",
    ),
    "a memory twice": (_duplicate_memory, "line 3: a second memory with id"),
    "ends before it begins": (
        lambda t: _edit(t, "memory", lambda d: _dumps({**d, "valid_to": "2001-01-01T00:00:00+00:00"})),
        "line 2: 'valid_to' is before 'valid_from'",
    ),
}


@pytest.mark.parametrize("name", list(BROKEN))
async def test_a_bad_line_is_refused_by_number_before_anything_is_written(
    tmp_path: Path, embedder: USEEmbedder, name: str
) -> None:
    text = await _export(tmp_path, embedder)
    breaks, message = BROKEN[name]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(breaks(text)) + "\n", encoding="utf-8")
    target = store_settings(tmp_path / "target.db")
    async with AsyncMemory(target, embedder=embedder) as mem:
        with pytest.raises(InvalidInputError, match=message):
            await import_store(mem, bad)
    # The store opens (it is not left half-imported) and holds nothing of the file.
    async with AsyncMemory(target, embedder=embedder) as mem:
        assert (await mem.storage.records.stats())["memories"] == 0
        history, _ = await mem.storage.records.scan_history(Scope(), limit=10)
        assert history == []


def test_the_cli_names_the_line_instead_of_a_traceback(tmp_path: Path, cli: Cli) -> None:
    bad = tmp_path / "bad.jsonl"
    header = {"type": "header", "kind": "memoryd-export", "format": 1, "exported_at": "2024-01-01T00:00:00+00:00",
              "scope": None, "embedder": {"name": "x", "dim": 2}, "index_format": "2", "vectors": True}  # fmt: skip
    bad.write_text(json.dumps(header) + '\n{"type": {"memory": 1}}\n', encoding="utf-8")
    result = cli(tmp_path / "t.db", "import", str(bad))
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr and "TypeError" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: line 2: unknown type"), result.stderr
