"""JSON the command line gives (``--metadata``, ``--filters``) or a ``--file`` holds that names a
key twice in one object was read as its last value: ``--metadata '{"a": 1, "a": 2}'`` stored
``a = 2``, where the REST API refuses such a body with a 422 naming the key. Now the CLI refuses it
too, naming the option (or the file's line) and the key, and writes nothing."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run, as_json, expect_error


def test_options_naming_a_key_twice_are_refused_and_nothing_is_written(run: Run) -> None:
    expect_error(
        run("add", "I like tea", "-u", "ana", "--metadata", '{"a": 1, "a": 2}'), 2, "--metadata", "'a'"
    )
    memory_id = as_json(run("add", "I like tea", "-u", "ana", "--json"))["results"][0]["id"]
    nested = '{"k": [{"z": 1, "z": 2}]}'
    expect_error(run("update", memory_id, "--metadata", nested), 2, "--metadata", "'k.0.z'")
    assert as_json(run("get", memory_id, "--json"))["metadata"] == {}
    for command in (["list"], ["search", "tea"]):
        refused = run(*command, "-u", "ana", "--filters", '{"t": {"$eq": 1, "$eq": 2}}', "--json")
        assert refused.exit_code == 2, refused.stdout
        assert "'t.$eq' twice" in as_json(refused)["error"]["message"]


def test_a_file_message_naming_a_key_twice_is_bad_data(run: Run, tmp_path: Path) -> None:
    assert run("add", "a store to read back", "-u", "bob").exit_code == 0
    messages = tmp_path / "chat.jsonl"
    messages.write_text(
        '{"role": "user", "content": "hi"}\n{"role": "user", "role": "assistant", "content": "x"}\n'
    )
    expect_error(run("add", "-f", str(messages), "-u", "ana"), 1, "line 2", "'role' twice")
    assert as_json(run("list", "-u", "ana", "--json"))["total"] == 0
