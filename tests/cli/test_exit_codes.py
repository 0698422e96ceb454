"""Exit status: 2 when the command line is wrong, found after parsing too; 1 when the operation fails.

A usage error that a command found once click had parsed its command line (a missing scope, an
invalid --filters JSON, --limit 0, options that do not go together) exited 1, as a store error
does; one raised as typer.BadParameter in a command's body was click's usage box, with nothing on
stdout under --json. Now each is one line naming the option, a JSON error document with --json,
and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Run, as_json, expect_error

USAGE = [
    (["add", "I like tea"], "--user-id/-u", "user_id"),  # no scope
    (["add", "-u", "ana"], "TEXT arguments or --file", "messages"),  # nothing to add
    (["add", "x", "-u", "ana", "--role", "bot"], "--role", "messages[0].role"),
    (["add", "", "-u", "ana"], "TEXT #1 is empty", "messages[0].content"),  # an empty TEXT
    (["add", "x", "-u", "ana", "--timestamp", "soon"], "--timestamp", "timestamp"),
    (["add", "x", "-u", "ana", "--metadata", "[1]"], "--metadata", "metadata"),
    (["add", "x", "-u", "ana", "--mode", "fine"], "needs an LLM", "mode"),  # none is configured
    (["search", "tea"], "--user-id/-u", "user_id"),
    (["search", "tea", "-u", "ana", "--filters", "{oops"], "--filters", "filters"),
    (
        ["search", "tea", "-u", "ana", "--filters", '{"a": {"$nope": 1}}'],
        "filters.a.$nope",
        "filters.a.$nope",
    ),
    (["search", "tea", "-u", "ana", "--as-of", "yesterday"], "--as-of", "as_of"),
    (["search", "", "-u", "ana"], "query", "query"),
    (["list", "-u", "ana", "--limit", "0"], "--limit/-n", "limit"),
    (["list", "-u", "ana", "--offset", "-1"], "--offset", "offset"),
    (["context", "tea", "-u", "ana", "--budget", "0"], "--budget/-b", "token_budget"),
    (["tree"], "--user-id/-u", "user_id"),
    (["get", ""], "memory_id", "memory_id"),
    (["update", "some-id"], "--metadata", "text"),
    (["delete", "some-id", "--all", "-u", "ana"], "--all", "id"),  # options that do not go together
    (["delete", "--all"], "--user-id", "user_id"),
    (["keys", "create", "--role", "user"], "--user-id/-u", "user_id"),
    (["dlq", "replay", "--id", "1-1", "--id", "2-2", "--count", "1"], "--count/-n", "count"),
    (["worker", "--local"], "--local", "local"),  # typer.BadParameter in the command's body
    (["bench", "gateway", "--embedder", "bert"], "--embedder", "embedder"),  # it exited 1
    (["bench", "speed", "--systems", "mem0"], "--systems", "systems"),
    (["export", "-", "--json"], "--json", "json"),
    (["export", "/tmp"], "is a directory", "path"),
    (["import", "/no/such/file.jsonl"], "no such file", "path"),
    (["import", "/tmp"], "is a directory", "path"),
]


@pytest.mark.parametrize(("args", "named", "field"), USAGE, ids=[" ".join(a) for a, _, _ in USAGE])
def test_a_usage_error_found_after_parsing_exits_2(run: Run, args: list[str], named: str, field: str) -> None:
    assert run("add", "I like tea", "-u", "ana").exit_code == 0  # a store: only the command line is wrong
    expect_error(run(*args), 2, named)
    scripted = run(*args, "--json") if "--json" not in args else run(*args)
    assert scripted.exit_code == 2, scripted.stderr
    error = as_json(scripted)["error"]  # stdout: one JSON document, still
    assert error["field"] == field and error["message"], error


def test_a_bad_parameter_of_a_commands_body_is_one_line_not_clicks_box(run: Run) -> None:
    for args, option in ((["worker", "--local"], "--local"), (["mcp", "--user-id", " "], "--user-id/-u")):
        result = run(*args)
        expect_error(result, 2, f"Invalid value for {option}")
        assert "Usage:" not in result.stderr and "╭" not in result.stderr, result.stderr
    protocol = run("--json", "mcp", "--agent-id", "")  # stdout is the protocol's: nothing there
    assert protocol.exit_code == 2 and protocol.stdout == "", protocol.stdout


def test_a_failed_operation_still_exits_1(run: Run, tmp_path: Path) -> None:
    assert run("add", "I like tea", "-u", "ana").exit_code == 0
    expect_error(run("get", "no-such-id"), 1, "no memory with id")
    expect_error(run("tree", "-u", "nobody"), 1, "no memories or turns")
    bad = tmp_path / "bad.jsonl"  # the command line is right; what the file holds is not
    bad.write_text('{"role": "bot", "content": "hello"}\n{"content": \n', encoding="utf-8")
    expect_error(run("add", "-f", str(bad), "-u", "ana"), 1, "line 2")
    bad.write_text('{"role": "bot", "content": "hello"}\n', encoding="utf-8")
    expect_error(run("add", "-f", str(bad), "-u", "ana"), 1, "messages[0].role")
    # the file named is not there: the command line is wrong
    expect_error(run("add", "-f", str(tmp_path / "missing.jsonl"), "-u", "ana"), 2, "cannot read")


def test_help_says_what_each_exit_status_means(run: Run) -> None:
    main = " ".join(run("--help").stdout.split())
    assert "Exit status: 0 done; 1 the operation failed" in main and "2 the command line was wrong" in main
    for command in (["search"], ["keys", "create"], ["bench", "speed"], ["reindex"]):
        shown = " ".join(run(*command, "--help").stdout.split())
        assert "Exit status: 0 done, 1 failed, 2 wrong command line or configuration" in shown, command
