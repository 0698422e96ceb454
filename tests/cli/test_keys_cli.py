"""`memoryd keys`: create (shown once), list, revoke — on the store a server reads."""

from __future__ import annotations

from pathlib import Path

from memoryd import load_settings
from memoryd.auth import open_key_store
from memoryd.auth.keys import parse_key
from tests.cli.conftest import Run, as_json, expect_error


def test_create_list_revoke(run: Run, db_path: Path) -> None:
    made = as_json(run("keys", "create", "--role", "user", "--user-id", "alice", "--json"))
    key_id, secret = parse_key(made["key"])
    assert made["id"] == key_id and made["role"] == "user" and made["user_id"] == "alice"
    human = run("keys", "create", "--role", "service", "--tenant", "acme", "--name", "backend")
    assert human.exit_code == 0 and human.stdout.strip().startswith("mdk_")
    listed = as_json(run("keys", "list", "--json"))["results"]
    assert {(k["role"], k["tenant"]) for k in listed} == {("user", "default"), ("service", "acme")}
    assert secret not in str(listed)
    assert as_json(run("keys", "revoke", key_id, "--json"))["revoked_at"]
    assert [k["role"] for k in as_json(run("keys", "list", "--json"))["results"]] == ["service"]
    assert len(as_json(run("keys", "list", "--all", "--json"))["results"]) == 2
    # A tenant's keys only, by the root -t or the command's own --tenant (it listed every tenant's).
    for args in (("-t", "acme", "keys", "list", "--all"), ("keys", "list", "--all", "--tenant", "acme")):
        assert [k["tenant"] for k in as_json(run(*args, "--json"))["results"]] == ["acme"], args
    assert as_json(run("-t", "nobody", "keys", "list", "--json"))["results"] == []
    expect_error(run("-t", "acme", "keys", "list", "--tenant", "other"), 2, "contradicts")
    store = open_key_store(load_settings(env={}, overrides={"storage": {"path": str(db_path)}}))
    try:
        assert store.count() == 1  # the same file a server would read
    finally:
        store.close()


def test_bad_requests_exit_1_naming_the_field(run: Run) -> None:
    expect_error(run("keys", "create", "--role", "user"), 2, "--user-id/-u")
    expect_error(run("keys", "revoke", "000000000000"), 1, "no API key")
    assert run("keys", "create", "--role", "root").exit_code == 2  # typer rejects the choice
