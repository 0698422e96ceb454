"""``memoryd update`` (text and/or metadata) and ``memoryd history`` within a scope, as the Python
API and REST offer them (the CLI had neither: "No such command 'update'", "No such option")."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json, expect_error


def _add(run: Run, text: str, *scope: str) -> str:
    done = run("add", text, *scope, "--json")
    assert done.exit_code == 0, done.stderr
    return str(as_json(done)["results"][0]["id"])


def test_update_changes_text_and_metadata_and_history_follows(run: Run) -> None:
    memory_id = _add(run, "I live in Lisbon", "-u", "ana")
    moved = run("update", memory_id, "I live in Porto", "-u", "ana")
    assert moved.exit_code == 0, moved.stderr
    assert "updated" in moved.stdout and "The user lives in Porto." in moved.stdout  # what the rules read
    tagged = as_json(run("update", memory_id, "--metadata", '{"city": "porto"}', "--json"))
    assert tagged["event"] == "UPDATE" and tagged["metadata"] == {"city": "porto"}
    merged = as_json(run("update", memory_id, "--metadata", '{"verified": true}', "--merge", "--json"))
    assert merged["metadata"] == {"city": "porto", "verified": True}
    same = as_json(run("update", memory_id, "I live in Porto", "--json"))
    assert same["event"] == "NOOP" and same["text"] == "I live in Porto"
    shown = as_json(run("get", memory_id, "--json"))
    assert shown["text"] == "I live in Porto" and shown["metadata"] == {"city": "porto", "verified": True}
    events = [e["event"] for e in as_json(run("history", memory_id, "-u", "ana", "--json"))["results"]]
    assert events == ["ADD", "UPDATE", "UPDATE", "UPDATE", "NOOP"]


def test_update_and_history_refuse_another_scope_and_nothing_to_change(run: Run) -> None:
    memory_id = _add(run, "I like tea", "-u", "ana")
    expect_error(run("update", memory_id, "I like coffee", "-u", "bob"), 1, "no memory", "memory_id")
    expect_error(run("history", memory_id, "-u", "bob"), 1, "no memory", "memory_id")
    expect_error(run("update", memory_id), 2, "give the new TEXT, --metadata, or both")  # usage
    expect_error(run("update", memory_id, "--metadata", "[1]"), 2, "--metadata must be a JSON object")
    assert as_json(run("get", memory_id, "--json"))["text"] == "I like tea"  # untouched
