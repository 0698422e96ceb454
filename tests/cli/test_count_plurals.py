"""Counts the commands print say one in the singular: ``delete --all`` of one memory printed
"deleted 1 memories", and so did ``reindex``, ``context`` ("1 items"), ``tree``'s long-term
memories and ``doctor``'s store check ("1 current memories ..., 1 users")."""

from __future__ import annotations

from pathlib import Path

from memoryd.cli.doctor import store_check
from memoryd.config import load_settings
from memoryd.embedders.use import USEEmbedder
from tests.cli.conftest import Run

TEA = "I drank green tea this morning"  # an episode: fast mode's rules read nothing else in it


def said(run: Run, *args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    return " ".join(result.stdout.split())  # rich wraps long lines


def test_one_memory_is_said_in_the_singular(run: Run, db_path: Path, embedder: USEEmbedder) -> None:
    settings = load_settings(env={"MEMORYD_STORAGE__PATH": str(db_path)})
    assert run("add", TEA, "-u", "ana").exit_code == 0
    store = store_check(settings, embedder)
    assert store.status == "ok" and ": 1 current memory (1 total), 1 user;" in store.detail, store.detail
    assert "1 item" in said(run, "context", "green tea", "-u", "ana").split("tokens, ")[-1]
    assert "reindexed 1 memory of " in said(run, "reindex")
    assert "deleted 1 memory of user_id='ana'" in said(run, "delete", "--all", "-u", "ana", "--yes")

    assert run("add", "My favourite drink is green tea", "-u", "bo").exit_code == 0  # and a preference
    assert said(run, "tree", "-u", "bo").endswith(" promoted), 1 long-term memory")
    store = store_check(settings, embedder)
    assert ": 2 current memories (2 total), 1 user;" in store.detail, store.detail
    assert "reindexed 2 memories of " in said(run, "reindex")
    assert "deleted 2 memories of user_id='bo'" in said(run, "delete", "--all", "-u", "bo", "--yes")


def test_one_exported_memory_and_one_turn_are_said_in_the_singular(run: Run, tmp_path: Path) -> None:
    assert run("add", "the blue notebook is on the shelf", "-u", "ana").exit_code == 0
    exported = run("export", str(tmp_path / "one.jsonl"), "-u", "ana")
    assert exported.exit_code == 0 and "1 memory," in exported.stderr + exported.stdout, exported.stderr
    tree = run("tree", "-u", "ana")
    assert tree.exit_code == 0 and "1 short-term turn," in tree.stdout and ": 1 turn\n" in tree.stdout, (
        tree.stdout
    )
