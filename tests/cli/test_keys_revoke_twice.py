"""``memoryd keys revoke`` of a key revoked before said "revoked key X" again, as if this revoke had
stopped it: it now says "key X was already revoked (at …)", the time of the first revoke, and
``--json`` says ``already_revoked``. Both exit 0, as before (the key is revoked either way)."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json


def test_a_second_revoke_says_the_key_already_was(run: Run) -> None:
    key_id = as_json(run("keys", "create", "--role", "service", "--json"))["id"]

    first = run("keys", "revoke", key_id)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.strip() == f"revoked key {key_id}", first.stdout

    second = run("keys", "revoke", key_id)
    assert second.exit_code == 0, second.stderr
    said = " ".join(second.stdout.split())
    assert said.startswith(f"key {key_id} was already revoked (at "), said
    assert "revoked key" not in said, said

    record = as_json(run("keys", "revoke", key_id, "--json"))
    listed = as_json(run("keys", "list", "--all", "--json"))["results"]
    assert record["already_revoked"] is True and record["revoked_at"] == listed[0]["revoked_at"]
    assert record["revoked_at"][:19] in said  # the first revoke's time, kept
    assert "already revoked" in record["message"], record


def test_a_first_revoke_in_json_says_it_was_not_revoked_before(run: Run) -> None:
    key_id = as_json(run("keys", "create", "--role", "service", "--json"))["id"]
    record = as_json(run("keys", "revoke", key_id, "--json"))
    assert record["already_revoked"] is False and record["revoked_at"], record
    assert "message" not in record, record
