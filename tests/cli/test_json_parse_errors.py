"""``--json`` when click itself refuses the command line (an unknown option, a value out of range or
of the wrong type, a missing argument): the help promises "With --json an error is also a JSON
document on stdout", but stdout was empty, so a script parsing it failed on nothing. Now stdout
holds the error document; stderr keeps click's report and the exit status stays 2."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Run, as_json

CASES = [
    (["search", "tea", "-u", "ana", "--graph-hops", "9"], "graph_hops", "--graph-hops"),
    (["list", "-u", "ana", "--limit", "many"], "limit", "--limit"),
    (["list", "-u", "ana", "--no-such-flag"], None, "No such option: --no-such-flag"),
    (["get"], "memory_id", "Missing argument 'ID'"),
    (["export", "out.jsonl", "--page-size", "0"], "page_size", "--page-size"),
    (["keys", "create", "--role", "root"], "role", "--role"),
]


@pytest.mark.parametrize(("args", "field", "said"), CASES, ids=[" ".join(a) for a, _, _ in CASES])
def test_a_parse_error_under_json_is_a_json_document(
    run: Run, args: list[str], field: str | None, said: str
) -> None:
    for command in ([*args, "--json"], ["--json", *args]):  # the command's --json, or the root's
        result = run(*command)
        assert result.exit_code == 2, (result.stdout, result.stderr)
        error = as_json(result)["error"]
        assert error["code"] == "invalid_input" and said in error["message"], error
        assert error.get("field") == field, error
        assert "Usage:" in result.stderr and "Traceback" not in result.stderr

    plain = run(*args)  # without --json: click's report alone, nothing on stdout
    assert plain.exit_code == 2 and plain.stdout == "" and "Usage:" in plain.stderr


def test_mcp_keeps_its_stdout_for_the_protocol(run: Run) -> None:
    result = run("--json", "mcp", "--no-such-flag")
    assert result.exit_code == 2 and result.stdout == "", result.stdout
