"""A question the CLI asks goes to stderr, whole: with --json, stdout holds one JSON document."""

from __future__ import annotations

import json

from tests.cli.conftest import Run

# Plain episodes: fast mode reads "I moved to…" as a home and "My favourite…" as a preference, which
# would add memories to what delete_all counts.
VISIT = "I visited Lisbon last spring"
QUESTION = "Delete every memory of user_id='alice'? This cannot be undone [y/N]: "


def _add(run: Run, *texts: str) -> None:
    result = run("add", *texts, "-u", "alice", "--json")
    assert result.exit_code == 0, result.stderr


def test_delete_all_with_json_asks_on_stderr_and_answers_one_json_document(run: Run) -> None:
    _add(run, VISIT, "I drank green tea this morning")
    confirmed = run("delete", "--all", "-u", "alice", "--json", input="y\n")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert confirmed.stdout.startswith("{"), repr(confirmed.stdout)  # not a space, nor the answer
    assert json.loads(confirmed.stdout) == {"deleted": 2, "scope": {"user_id": "alice"}}
    assert confirmed.stderr.startswith(QUESTION)  # the whole question, its last space included


def test_a_refused_delete_all_with_json_answers_one_error_document(run: Run) -> None:
    _add(run, VISIT)
    refused = run("delete", "--all", "-u", "alice", "--json", input="n\n")
    assert refused.exit_code == 1
    assert refused.stdout.startswith("{"), repr(refused.stdout)
    assert "nothing deleted" in json.loads(refused.stdout)["error"]["message"]
    assert refused.stderr.startswith(QUESTION) and "nothing deleted" in refused.stderr
    listed = run("list", "-u", "alice", "--json")
    assert json.loads(listed.stdout)["total"] == 1


def test_the_human_delete_all_still_asks_and_says_what_it_did(run: Run) -> None:
    _add(run, VISIT)
    confirmed = run("delete", "--all", "-u", "alice", input="y\n")
    assert confirmed.exit_code == 0 and confirmed.stdout.strip() == "deleted 1 memory of user_id='alice'"
    assert QUESTION in confirmed.stderr
