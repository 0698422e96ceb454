"""``memoryd import --json`` said ``"reused_vectors": true`` for a file whose header has vectors
while its memory lines carry none (removed by hand so the import embeds them again): every memory
was re-embedded. It now says whether any of the file's vectors was kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result


def _imported(run: Callable[..., Result], db: Path, source: Path) -> dict[str, object]:
    done = run({"MEMORYD_STORAGE__PATH": str(db)}, "import", str(source), "--json")
    assert done.exit_code == 0, done.stdout + done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_reused_vectors_says_whether_any_vector_of_the_file_was_kept(
    tmp_path: Path, stores: Path, whole: Path, run: Callable[..., Result]
) -> None:
    kept = _imported(run, stores / "kept" / "a.db", whole)
    assert kept["reused_vectors"] is True and kept["reembedded"] == 0

    stripped = tmp_path / "no-index.jsonl"
    lines = [json.loads(t) for t in whole.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["vectors"] is True  # the header still says the file has vectors
    for line in lines:
        if line["type"] == "memory":
            line.pop("index", None)
    stripped.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    again = _imported(run, stores / "again" / "a.db", stripped)
    assert again["reembedded"] == again["counts"]["memory"]  # type: ignore[index]
    assert again["reused_vectors"] is False
