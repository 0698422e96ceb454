"""``memoryd keys revoke`` given a key's full text (a leaked key, pasted as found) answered "no API
key with id 'mdk_<id>_<secret>'": the key stayed valid and its secret was printed again (a terminal,
a CI log). It now revokes the key that text names, and no error echoes its secret."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json


def _made(run: Run) -> dict[str, str]:
    made = run("keys", "create", "--role", "user", "-u", "ana", "--json")
    assert made.exit_code == 0, made.stderr
    created: dict[str, str] = as_json(made)
    return created


def test_a_leaked_key_is_revoked_by_its_text(run: Run) -> None:
    made = _made(run)
    key, secret = made["key"], made["key"].split("_", 2)[2]
    revoked = run("keys", "revoke", key, "--json")
    assert revoked.exit_code == 0, revoked.stdout + revoked.stderr
    assert as_json(revoked)["id"] == made["id"] and as_json(revoked)["revoked_at"]
    assert secret not in revoked.stdout + revoked.stderr
    listed = as_json(run("keys", "list", "--all", "--json"))["results"]
    assert [k["revoked_at"] is not None for k in listed if k["id"] == made["id"]] == [True]


def test_an_unknown_key_text_is_refused_without_its_secret(run: Run) -> None:
    _made(run)  # a key store exists
    stranger = "mdk_0123456789ab_s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tAB"
    refused = run("keys", "revoke", stranger, "--json")
    assert refused.exit_code == 1
    said = refused.stdout + refused.stderr
    assert "0123456789ab" in said and "s3cr3t" not in said, said
