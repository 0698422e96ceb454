"""`memoryd keys list` / `revoke` on a storage.path where no key store is (a mistyped path, a store
not made yet) created the folder and an empty keys.db there, and said "0 key(s)" as if the keys
were gone. They now make nothing, and say that there is no key store at that path."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run, as_json, expect_error


def test_keys_list_and_revoke_make_no_key_store(run: Run, db_path: Path) -> None:
    listed = run("keys", "list", "--json")
    assert listed.exit_code == 0 and as_json(listed) == {"results": []}
    said = "".join(listed.stderr.split())  # the terminal may wrap the path anywhere
    assert "".join(f"no key store at {db_path.parent / 'keys.db'}".split()) in said
    expect_error(run("keys", "revoke", "000000000000"), 1, "no API key", "no key store at")
    assert not db_path.parent.exists()
    made = as_json(run("keys", "create", "--role", "admin", "--json"))  # create makes it, as before
    assert [k["id"] for k in as_json(run("keys", "list", "--json"))["results"]] == [made["id"]]
