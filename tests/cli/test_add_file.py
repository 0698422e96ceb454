"""``memoryd add --file``: the whole file checked before the first write, a batch that fails after
others reported with what they stored, and files that are not text refused in one line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli.conftest import Run, as_json, expect_error


def _jsonl(path: Path, contents: list[str]) -> Path:
    path.write_text("".join(json.dumps({"role": "user", "content": c}) + "\n" for c in contents))
    return path


def _stored(run: Run) -> int:
    listed = run("list", "-u", "ana", "--limit", "1", "--json")
    return 0 if listed.exit_code else int(as_json(listed)["total"])


def test_a_bad_message_late_in_the_file_writes_nothing_and_names_its_index(run: Run, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "chat.jsonl", [f"message number {i}" for i in range(5)] + [""])
    result = run("add", "--file", str(path), "-u", "ana", "--batch-size", "2", "--json")
    expect_error(result, 1, "messages[5].content is empty", "(field: messages[5].content)")
    assert as_json(result)["error"]["field"] == "messages[5].content"
    assert _stored(run) == 0  # not the four of the first two batches


def test_a_batch_failing_after_others_says_what_was_stored(run: Run, tmp_path: Path, db_path: Path) -> None:
    assert run("add", "first", "-u", "ana").exit_code == 0  # the store exists, with one memory
    with sqlite3.connect(db_path) as db:  # a real engine failure on one message of the third batch
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON memories WHEN NEW.text = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
        )
    path = _jsonl(tmp_path / "chat.jsonl", ["one", "two", "three", "four", "poison", "six"])
    result = run("add", "--file", str(path), "-u", "ana", "--batch-size", "2", "--json")
    expect_error(result, 1, "refused by a trigger", "messages[4] onwards were not stored", "messages[0]–[3]")
    doc = as_json(result)
    assert doc["stored"] == 4 and doc["error"]["message"].startswith("SQLite error")
    assert [(r["index"], r["memory"]) for r in doc["results"]] == [
        (0, "one"), (1, "two"), (2, "three"), (3, "four")
    ]  # fmt: skip
    assert _stored(run) == 5

    human = run("add", "--file", str(path), "-u", "ana", "--batch-size", "2")
    expect_error(human, 1, "the 4 before them were", "duplicates are NOOP")


def test_a_file_that_is_not_utf8_is_one_line(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"content": "fine"}\n\xff\xfe bad bytes\n')
    expect_error(
        run("add", "--file", str(path), "-u", "ana"),
        1,
        f"{path}: line 2 is not UTF-8 text",
        "(option: --file/-f)",
    )


def test_line_and_paragraph_separators_inside_messages_are_text_not_line_ends(run: Run, tmp_path: Path) -> None:
    # json.dumps(ensure_ascii=False) and JavaScript's JSON.stringify write U+2028 and U+0085 as they are
    path = tmp_path / "chat.jsonl"
    texts = ["first line\u2028second line", "a\u0085b", "crlf ends\r"]
    path.write_text("".join(json.dumps({"role": "user", "content": t}, ensure_ascii=False) + "\r\n" for t in texts))
    result = run("add", "--file", str(path), "-u", "ana", "--json")
    assert result.exit_code == 0, result.output
    assert [r["memory"] for r in as_json(result)["results"] if r["kind"] == "episode"] == texts


def test_a_file_of_dash_is_read_from_stdin(run: Run) -> None:
    """``add -f -`` said "cannot read -: No such file": a pipe of messages had to be saved first."""
    lines = "".join(json.dumps({"role": "user", "content": c}) + "\n" for c in ("I like tea", "I like jazz"))
    result = run("add", "-f", "-", "-u", "ana", "--json", input=lines)
    assert result.exit_code == 0, result.stderr
    assert [r["memory"] for r in as_json(result)["results"] if r["kind"] == "episode"] == ["I like tea", "I like jazz"]
    assert _stored(run) == 4  # the two messages and the two likes they state


def test_an_empty_file_says_the_file_holds_no_messages(run: Run, tmp_path: Path) -> None:
    """It said "nothing to add: give TEXT arguments or --file" to someone who had given --file."""
    empty = tmp_path / "empty.jsonl"
    for contents in ("", "\n  \n", "[]"):
        empty.write_text(contents)
        result = run("add", "--file", str(empty), "-u", "ana", "--json")
        expect_error(result, 1, f"{empty} holds no messages", "(option: --file/-f)")
        assert as_json(result)["error"]["field"] == "file"
    result = run("add", "--file", "-", "-u", "ana", input="")
    expect_error(result, 1, "- holds no messages")
    assert _stored(run) == 0


def test_a_text_of_dash_is_read_from_stdin_as_one_text(run: Run) -> None:
    """``memoryd add - -u ana`` stored the text "-": a pipe of plain text had no way in but a file."""
    result = run("add", "-", "-u", "ana", "--json", input="I keep bees on the roof.\nThey make dark honey.\n")
    assert result.exit_code == 0, result.stderr
    episodes = [r["memory"] for r in as_json(result)["results"] if r["kind"] == "episode"]
    assert episodes == ["I keep bees on the roof.\nThey make dark honey."]
    for given, needle in (("", "stdin (TEXT -) holds no text"), (" \n", "stdin (TEXT -) holds no text")):
        expect_error(run("add", "-", "-u", "ana", input=given), 2, needle)
    expect_error(run("add", "-", "-f", "-", "-u", "ana", input="x"), 2, "stdin is read once")
    assert "-" not in [m["memory"] for m in as_json(run("list", "-u", "ana", "--json"))["results"]]
