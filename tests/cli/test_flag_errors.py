"""CLI errors name the command's flags, not the API's fields; an empty scope gets a hint."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run, as_json, expect_error


def _error_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("error: "))


def test_errors_name_the_flag_that_sets_the_field(run: Run, tmp_path: Path) -> None:
    no_scope = run("add", "no scope here")
    expect_error(
        no_scope, 2, "a scope is required: give at least one of --user-id/-u, --agent-id/-a, --run-id/-r"
    )
    assert "user_id" not in _error_line(no_scope.stderr) and "(field:" not in no_scope.stderr
    expect_error(
        run("add", "x", "-u", "f", "--role", "bot"), 2, "error: --role must be one of user, assistant"
    )
    expect_error(
        run("context", "tea", "-u", "f", "--budget", "0"), 2, "error: --budget/-b must be an integer"
    )
    expect_error(run("search", "tea", "-u", "f", "-n", "0"), 2, "error: --limit/-n must be an integer")
    expect_error(run("keys", "create", "--role", "user"), 2, "a user key needs the --user-id/-u")
    # A role from a message object of --file is not --role's: the field is named as it is, and
    # it is bad data in a file (the operation failed: 1), not a wrong command line.
    path = tmp_path / "m.jsonl"
    path.write_text('{"role": "bot", "content": "hello"}\n', encoding="utf-8")
    expect_error(run("add", "-f", str(path), "-u", "f"), 1, "(field: messages[0].role)")


def test_json_errors_keep_the_api_field_for_scripts(run: Run) -> None:
    cases = [
        (["add", "no scope here"], "user_id", "give at least one of user_id, agent_id, run_id"),
        (["add", "x", "-u", "f", "--role", "bot"], "messages[0].role", "messages[0].role must be one of"),
        (["context", "tea", "-u", "f", "--budget", "0"], "token_budget", "token_budget must be an integer"),
    ]
    for args, field, message in cases:
        result = run(*args, "--json")
        assert result.exit_code == 2, result.stderr
        error = as_json(result)["error"]
        assert error["field"] == field and message in error["message"], error


def test_an_empty_scope_gets_a_hint_on_stderr_and_exit_0(run: Run) -> None:
    assert run("add", "I drink green tea every morning", "-u", "ana").exit_code == 0
    for args in (["list", "--user-id", "Ana"], ["search", "tea", "-u", "Ana"]):
        result = run(*args)
        assert result.exit_code == 0, result.stderr
        assert "no memories for --user-id 'Ana', but --user-id 'ana' has some" in result.stderr, result.stderr
        assert "hint" not in result.stdout
    unknown = run("list", "-u", "bob")
    assert unknown.exit_code == 0 and "no memories for --user-id 'bob' (" in unknown.stderr
    assert "GET /v1/users" in unknown.stderr
    # Memories the filters or the query leave out: the scope is not empty, no hint.
    filtered = run("list", "-u", "ana", "--filters", '{"topic": "none"}')
    assert filtered.exit_code == 0 and "hint" not in filtered.stderr
    # --json: stdout holds the document, stderr stays quiet.
    quiet = run("list", "-u", "Ana", "--json")
    assert quiet.exit_code == 0 and as_json(quiet)["total"] == 0 and quiet.stderr == ""


def test_a_refused_tenant_before_the_command_touches_no_store(run: Run) -> None:
    assert run("add", "the default tenant's memory", "-u", "alice").exit_code == 0
    for bad in ("acme ", "../../x"):  # a typo's trailing space; a path
        expect_error(run("--tenant", bad, "delete", "--all", "-u", "alice", "--yes"), 2, "--tenant")
        expect_error(run("--tenant", bad, "list", "-u", "alice"), 2, "--tenant")
    listed = as_json(run("list", "-u", "alice", "--json"))
    assert [m["text"] for m in listed["results"] if m["kind"] == "episode"] == ["the default tenant's memory"]


def test_a_commands_tenant_never_silently_loses_to_the_roots(run: Run) -> None:
    assert run("add", "default tenant memory", "-u", "u1").exit_code == 0
    assert run("-t", "acme", "add", "acme memory", "-u", "u1").exit_code == 0
    expect_error(run("-t", "acme", "check", "--tenant", "default"), 2, "contradicts")
    expect_error(run("-t", "acme", "export", "-", "--tenant", "default"), 2, "contradicts")
    expect_error(run("check", "--tenant", "bad tenant!"), 2, "--tenant")  # as the root's -t: usage
    expect_error(run("keys", "create", "--role", "service", "--tenant", "bad tenant"), 2, "--tenant")
    made = as_json(run("-t", "acme", "keys", "create", "--role", "service", "--json"))
    assert made["tenant"] == "acme"  # asked under -t acme: an acme key, not the default tenant's
    same = run("-t", "acme", "check", "--tenant", "acme")
    assert same.exit_code == 0, same.stderr
