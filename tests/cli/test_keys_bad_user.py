"""``memoryd keys create --role user -u ID`` with an id no memory may have (a control character, over
512 characters) made a key whose every call the server then refused ("user_id holds a control
character"). It is refused when asked for, exit 2, and no key is stored."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Run, as_json, expect_error

BAD = [
    ("ana\tb", "--user-id/-u holds a control character ('\\t'), which no id may hold"),
    ("u" * 600, "--user-id/-u is 600 characters; at most 512 are allowed"),
]


@pytest.mark.parametrize(("user", "said"), BAD, ids=["tab", "600 characters"])
def test_a_user_key_for_an_id_no_scope_may_hold_is_refused(run: Run, user: str, said: str) -> None:
    expect_error(run("keys", "create", "--role", "user", "-u", user), 2, said)
    scripted = run("keys", "create", "--role", "user", "-u", user, "--json")
    assert scripted.exit_code == 2 and as_json(scripted)["error"]["field"] == "user_id"
    assert as_json(run("keys", "list", "--all", "--json"))["results"] == []  # nothing was stored

    made = as_json(run("keys", "create", "--role", "user", "-u", "ana b", "--json"))  # a space is fine
    assert made["user_id"] == "ana b"
