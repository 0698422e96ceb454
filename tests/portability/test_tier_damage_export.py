"""The memory hierarchy damaged (a segment row or a turn's row lost, a segment's count garbled):
`memoryd export` stops naming the damage and `--skip-unreadable`; with it, the file imports into a
new store that checks clean.

Before, the export wrote such a store as it was, with no word, and its file was refused by the
import (``segment '…' counts 4 turns; the file holds 3 in it``, ``… is in segment '…', which the
file does not hold``): the promised "every file an export writes imports" did not hold."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from memoryd.embedders.use import USEEmbedder
from tests.faults.test_index_damage import damage
from tests.faults.test_tier_damage import DAMAGE as CHECKED
from tests.faults.test_tier_damage import FIRST_SEGMENT, build

Cli = Callable[..., Result]

DAMAGE = {
    "a segment row lost": (f"DELETE FROM segments WHERE id = {FIRST_SEGMENT}", "which the store does not hold"),
    "a turn's row lost": (
        f"DELETE FROM tier_turns WHERE seq = (SELECT min(seq) FROM tier_turns WHERE segment_id = {FIRST_SEGMENT})",
        "turns and holds",
    ),
    "every turn of a segment lost": (
        f"DELETE FROM tier_turns WHERE segment_id = {FIRST_SEGMENT}", "turns and holds 0"
    ),
    "a segment's count garbled": (f"UPDATE segments SET turns = turns + 1 WHERE id = {FIRST_SEGMENT}", "turns and holds"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_hierarchy_exports_only_what_imports(
    case: str, tmp_path: Path, embedder: USEEmbedder, cli: Cli
) -> None:
    source = asyncio.run(build(tmp_path, embedder)).storage.path
    statement, named = DAMAGE[case]
    damage(source, statement)
    before = cli(source, "check", "--json")
    assert before.exit_code == 1  # damage `memoryd check` reports, naming the repair that follows
    assert all("`memoryd export --skip-unreadable`" in p["fix"] for p in json.loads(before.stdout)["problems"])
    out = tmp_path / "backup.jsonl"

    stopped = cli(source, "export", str(out))
    assert stopped.exit_code == 1, stopped.stdout
    assert named in stopped.stderr and "--skip-unreadable" in stopped.stderr, stopped.stderr
    assert not out.exists()

    exported = cli(source, "export", str(out), "--skip-unreadable", "--json")
    assert exported.exit_code == 0, exported.stderr
    target = tmp_path / "restored.db"
    imported = cli(target, "import", str(out), "--json")
    assert imported.exit_code == 0, imported.stderr
    checked = cli(target, "check", "--json")
    assert checked.exit_code == 0, checked.stdout
    memories = json.loads(exported.stdout)["counts"]["memory"]
    assert json.loads(checked.stdout)["counts"]["memories"] == memories  # no memory is lost
    assert memories == json.loads(before.stdout)["counts"]["memories"]


@pytest.mark.parametrize("case", list(CHECKED))
def test_every_hierarchy_damage_check_names_moves_to_a_store_that_checks_clean(
    case: str, tmp_path: Path, embedder: USEEmbedder, cli: Cli
) -> None:
    """Each damage of ``tests/faults/test_tier_damage.py``: a turn whose memory is not an episode,
    not current or another owner's, a segment filed under another user, too (their files were
    refused: ``that memory is not an episode``, ``… is in segment '…' of ['bo', …]``)."""
    source = asyncio.run(build(tmp_path, embedder)).storage.path
    damage(source, *CHECKED[case][0])
    out, target = tmp_path / "backup.jsonl", tmp_path / "restored.db"
    assert cli(source, "check").exit_code == 1
    exported = cli(source, "export", str(out), "--skip-unreadable")
    assert exported.exit_code == 0, exported.stderr
    imported = cli(target, "import", str(out))
    assert imported.exit_code == 0, imported.stderr
    checked = cli(target, "check")
    assert checked.exit_code == 0, checked.stdout
