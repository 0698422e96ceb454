"""A ``--tenant`` without a store: the error names the tenant as typed, never its folder.

A name with capitals has a folder with a suffix (``ACME`` → ``tenants/ACME.f/``): the error said
"no store for the tenant 'ACME.f'" and that the tenants with a store are the folders of
``tenants/``, which is not so for those names."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Run, expect_error


@pytest.mark.parametrize("tenant", ["ACME", "Zeta", "acme"])
def test_the_error_names_the_tenant_as_typed(run: Run, tenant: str) -> None:
    assert run("add", "x", "-u", "t").exit_code == 0  # the default tenant's store exists
    for args in (("--tenant", tenant, "list", "-u", "a"), ("check", "--tenant", tenant)):
        result = run(*args)
        expect_error(
            result, 1,
            f"no store for the tenant {tenant!r} yet", "tenant names are case-sensitive",
            f"`memoryd --tenant {tenant} add` creates the tenant's store",
        )  # fmt: skip
        assert "folders of" not in result.stderr and f"'{tenant}." not in result.stderr
