"""A store holding a turn said at the last microsecond of year 9999 (a timestamp `memoryd add` accepts)
exports and imports back.

The hierarchy keeps a turn's time as epoch seconds, where that instant rounds to 10000-01-01: the
export failed on it with a traceback (``ValueError: year 10000 is out of range``), so such a store
could not be backed up at all."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.portability.conftest import lines

Cli = Callable[..., Result]


def test_a_turn_at_the_end_of_year_9999_exports_and_imports(tmp_path: Path, cli: Cli) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    for when, text in (("9999-12-31T23:59:59.999999Z", "a note for the far future"),
                       ("0001-01-01T00:00:00Z", "a note from the first morning")):  # fmt: skip
        added = cli(source, "add", "-u", "ana", "-r", "s1", "--mode", "fast", "--timestamp", when, text)
        assert added.exit_code == 0, added.stderr
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"

    exported = cli(source, "export", str(first))
    assert exported.exit_code == 0, exported.stderr + str(exported.exception)
    turns = [json.loads(line) for line in lines(first) if json.loads(line)["type"] == "tier_turn"]
    assert sorted(t["at"] for t in turns) == ["0001-01-01T00:00:00.000000+00:00",
                                              "9999-12-31T23:59:59.999999+00:00"]  # fmt: skip

    imported = cli(target, "import", str(first))
    assert imported.exit_code == 0, imported.stderr
    assert cli(target, "check").exit_code == 0
    assert cli(target, "export", str(second)).exit_code == 0
    assert lines(second) == lines(first)  # the same store again
