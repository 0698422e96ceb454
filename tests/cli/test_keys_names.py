"""A key's name (its note) and role as the CLI takes them: ``--name ""`` was stored as "", a name of
100,000 characters or with a control character was kept (the HTTP route allows 200, and the table
shows none as written), and ``--role Admin`` was refused though config choices ignore case."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json, expect_error


def test_a_blank_name_is_no_name(run: Run) -> None:
    made = as_json(run("keys", "create", "--role", "admin", "--name", "  ", "--json"))
    assert made["name"] is None
    assert [k["name"] for k in as_json(run("keys", "list", "--json"))["results"]] == [None]


def test_a_name_too_long_or_with_a_control_character_is_refused_and_nothing_stored(run: Run) -> None:
    for name, said in (("n" * 201, "name is 201 characters; at most 200 are allowed"),
                       ("ops\x1b[31m", "name holds a control character ('\\x1b')")):  # fmt: skip
        expect_error(run("keys", "create", "--role", "admin", "--name", name), 2, said)
    assert as_json(run("keys", "list", "--all", "--json"))["results"] == []
    assert as_json(run("keys", "create", "--role", "admin", "--name", "n" * 200, "--json"))["name"] == "n" * 200


def test_the_role_is_read_whatever_its_case(run: Run) -> None:
    made = as_json(run("keys", "create", "--role", "Service", "--name", "ops", "--json"))
    assert made["role"] == "service" and made["name"] == "ops"
