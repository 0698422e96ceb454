"""A bad TEXT argument of ``memoryd add`` was named by the API's field, which the command line
never spells: "error: messages[1].content is empty (field: messages[1].content)" for
``memoryd add ok ""``, and the same for a text piped to ``-`` over the size limit. The error now
names the argument as given (``TEXT #2``, ``TEXT - (stdin)``); JSON keeps the API's field."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json, expect_error


def test_a_bad_text_argument_is_named_as_given(run: Run) -> None:
    empty = run("add", "I like tea", "", "-u", "ana")
    expect_error(empty, 2, "TEXT #2 is empty")
    assert "messages[" not in empty.stderr

    piped = run("add", "-", "-u", "ana", input="tea " * 10_000)
    expect_error(piped, 2, "TEXT - (stdin) has 39999 characters; the limit is")  # stripped
    assert "messages[" not in piped.stderr

    scripted = run("add", "", "-u", "ana", "--json")
    assert scripted.exit_code == 2
    assert as_json(scripted)["error"]["field"] == "messages[0].content"  # for scripts: the API's field
