"""``memoryd -t acme keys list`` listed only the keys made for acme, not the admin keys of other
tenants, though each of them reaches acme's memories and keys (``X-Memoryd-Tenant: acme``): an
operator checking who can reach acme missed them. A tenant's listing now shows every admin key
too, marked as reaching every tenant; ``--json`` stays a list of key objects (with their role)."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json


def _made(run: Run, *args: str) -> str:
    made = as_json(run("keys", "create", *args, "--json"))
    return str(made["id"])


def test_a_tenant_listing_shows_the_admin_keys_that_reach_it(run: Run) -> None:
    admin = _made(run, "--role", "admin")  # made for the default tenant
    other_admin = _made(run, "--role", "admin", "--tenant", "globex")
    service = _made(run, "--role", "service", "--tenant", "acme")
    other_service = _made(run, "--role", "service", "--tenant", "globex")

    for args in (("-t", "acme", "keys", "list"), ("keys", "list", "--tenant", "acme")):
        listed = as_json(run(*args, "--json"))["results"]
        assert {k["id"]: k["role"] for k in listed} == {admin: "admin", other_admin: "admin", service: "service"}
        assert other_service not in {k["id"] for k in listed}

        shown = run(*args, env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.stderr
        rows = {line.split()[0]: line for line in shown.stdout.splitlines() if line.strip()}
        assert admin in rows and other_admin in rows and service in rows, shown.stdout
        assert "every" in rows[other_admin] and "globex" in rows[other_admin], rows[other_admin]
        assert "every" not in rows[service], rows[service]
        said = " ".join((shown.stdout + shown.stderr).split())
        assert "3 keys (2 admin keys, reaching every tenant)" in said, said

    # a tenant no key was made for is still reached by the admin keys
    assert {k["id"] for k in as_json(run("-t", "nobody", "keys", "list", "--json"))["results"]} == {
        admin,
        other_admin,
    }
