"""`memoryd keys revoke --help` said a revoked key stops "within seconds on a running server"; since
the server drops its cached keys when the key store changes (61a3b1f), it refuses the key from its
next request on, and the help (and docs/cli.md, made from it) says so."""

from __future__ import annotations

from tests.cli.conftest import Run


def test_revoke_help_says_the_server_refuses_the_key_from_its_next_request(run: Run) -> None:
    shown = run("keys", "revoke", "--help", env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "within seconds" not in text
    assert "a running server refuses it from its next request on" in text
