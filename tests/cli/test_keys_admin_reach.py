"""``memoryd keys create --role admin --tenant acme`` said "admin key … for tenant 'acme'", though an
admin key reaches every tenant (``X-Memoryd-Tenant`` picks any): an operator making an admin for
one tenant handed out every tenant's memories and keys. It now says the key is for every tenant
and that acme is only the one it acts in by default."""

from __future__ import annotations

from tests.cli.conftest import Run


def _said(run: Run, *args: str) -> str:
    made = run("keys", "create", *args)
    assert made.exit_code == 0, made.stderr
    assert made.stdout.strip().startswith("mdk_")
    return " ".join(made.stderr.split())


def test_an_admin_key_made_for_a_tenant_is_said_to_reach_every_tenant(run: Run) -> None:
    said = _said(run, "--role", "admin", "--tenant", "acme")
    assert "for tenant 'acme'" not in said, said
    assert "every tenant" in said and "'acme'" in said, said

    said = _said(run, "--role", "service", "--tenant", "acme")
    assert "for tenant 'acme'" in said and "every tenant" not in said, said
    said = _said(run, "--role", "user", "--tenant", "acme", "-u", "bo")
    assert "for tenant 'acme' bound to user 'bo'" in said, said


def test_the_tenant_option_says_what_it_means_for_an_admin_key(run: Run) -> None:
    shown = run("keys", "create", "--help", env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    assert "An admin key reaches every tenant" in " ".join(shown.stdout.replace("│", " ").split())
