"""``memoryd check`` and ``memoryd reindex`` on a store whose vector index, in another engine (Qdrant
local mode here), refuses it before anything is dropped: the index is another store's, or its
local-mode folder is held by another process (a server left running).

``check`` named `memoryd reindex` as the fix of an index that is another store's, and the reindex
refuses that index; the reindex said "both indexes were discarded ... the store refuses to open
until a reindex finishes" though it had dropped nothing (the store still checked clean)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Run, as_json

pytest.importorskip("qdrant_client")


def _env(tmp_path: Path, store: str, collection: str = "memoryd") -> dict[str, str]:
    return {
        "MEMORYD_STORAGE__PATH": str(tmp_path / store),
        "MEMORYD_STORAGE__VECTORS": "qdrant",
        "MEMORYD_STORAGE__QDRANT__PATH": str(tmp_path / "shared.qdrant"),
        "MEMORYD_STORAGE__QDRANT__COLLECTION": collection,
    }


def test_another_stores_index_is_named_with_its_fix_and_the_reindex_drops_nothing(
    run: Run, tmp_path: Path
) -> None:
    first, second = _env(tmp_path, "first.db"), _env(tmp_path, "second.db", "second")
    assert run("add", "-u", "ana", "--mode", "fast", "I keep bees", env=first).exit_code == 0
    assert run("add", "-u", "bo", "--mode", "fast", "I grow figs", env=second).exit_code == 0
    shared = {**second, "MEMORYD_STORAGE__QDRANT__COLLECTION": "memoryd"}  # the first store's collection

    checked = run("check", "--json", env=shared)
    assert checked.exit_code == 1, checked.stderr
    (problem,) = as_json(checked)["problems"]
    assert "another memoryd store" in problem["message"]
    assert "storage.qdrant.collection" in problem["fix"]  # not "run `memoryd reindex`", which refuses it
    assert not problem["fix"].startswith("run `memoryd reindex`")

    refused = run("reindex", "--json", env=shared)
    assert refused.exit_code == 1
    message = as_json(refused)["error"]["message"]
    assert "another memoryd store" in message
    assert "discarded" not in message and "refuses to open" not in message, message

    assert as_json(run("check", "--json", env=first))["ok"]  # the first store's index is whole
    own = {**second, "MEMORYD_STORAGE__QDRANT__COLLECTION": "second_own"}  # the fix named
    assert run("reindex", env=own).exit_code == 0
    assert as_json(run("check", "--json", env=own))["ok"]


HOLD = """
import sys
from qdrant_client import QdrantClient
client = QdrantClient(path=sys.argv[1])
print("held", flush=True)
sys.stdin.read()
client.close()
"""


def test_a_local_mode_folder_held_elsewhere_stops_the_reindex_with_nothing_discarded(
    run: Run, tmp_path: Path
) -> None:
    env = _env(tmp_path, "store.db")
    assert run("add", "-u", "ana", "--mode", "fast", "I keep bees", "I grow figs", env=env).exit_code == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, env["MEMORYD_STORAGE__QDRANT__PATH"]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = run("reindex", "--json", env=env)
    finally:
        holder.communicate("")  # stdin closed: it lets the folder go
    assert refused.exit_code == 1
    message = as_json(refused)["error"]["message"]
    assert "open in another process" in message
    assert "discarded" not in message and "refuses to open" not in message, message
    checked = as_json(run("check", "--json", env=env))  # and indeed nothing was discarded
    assert checked["ok"], checked["problems"]
    assert checked["counts"]["vectors"] == checked["counts"]["keywords"] == checked["counts"]["memories"] > 0
