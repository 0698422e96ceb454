"""``memoryd check --tenant NAME`` on a damaged tenant store: the fix it prints works on that store.

The fix read "run `memoryd reindex`", which, run as written, rebuilt the default tenant's store
(and, without the --config the check was given, the default config's): the tenant's store stayed
damaged and the next check said the same again."""

from __future__ import annotations

import re
import shlex
import sqlite3
from pathlib import Path

from tests.cli.conftest import Run, as_json


def _fix_command(problem: dict[str, str]) -> list[str]:
    found = re.search(r"`memoryd ([^`]*)`", problem["fix"])
    assert found, problem
    return shlex.split(found.group(1))


def test_the_fix_of_a_tenant_store_rebuilds_that_store(run: Run, db_path: Path) -> None:
    assert run("add", "-u", "ana", "--mode", "fast", "I keep bees").exit_code == 0
    added = run("--tenant", "acme", "add", "-u", "bo", "--mode", "fast", "I grow figs")
    assert added.exit_code == 0, added.stderr
    tenant_db = db_path.parent / "tenants" / "acme" / "memoryd.db"
    with sqlite3.connect(tenant_db) as db:
        db.execute("DELETE FROM vectors")

    checked = run("check", "--tenant", "acme", "--json")
    assert checked.exit_code == 1, checked.stderr
    (problem,) = as_json(checked)["problems"]
    command = _fix_command(problem)
    assert command[0] == "reindex" and "--tenant" in command and "acme" in command, problem

    assert run(*command).exit_code == 0
    again = run("check", "--tenant", "acme", "--json")
    assert again.exit_code == 0, again.stdout
    assert run("check").exit_code == 0  # the default tenant's store, untouched


def test_the_root_tenant_option_is_named_in_the_fix_too(run: Run, db_path: Path) -> None:
    assert run("--tenant", "acme", "add", "-u", "bo", "--mode", "fast", "I grow figs").exit_code == 0
    with sqlite3.connect(db_path.parent / "tenants" / "acme" / "memoryd.db") as db:
        db.execute("DROP TABLE kw")

    checked = run("--tenant", "acme", "check", "--json")
    assert checked.exit_code == 1, checked.stderr
    for problem in as_json(checked)["problems"]:
        assert _fix_command(problem)[:3] == ["reindex", "--tenant", "acme"], problem
        assert "`memoryd reindex --keywords-only`" not in problem["message"], problem
    (problem,) = as_json(checked)["problems"]
    assert run(*_fix_command(problem)).exit_code == 0
    assert run("--tenant", "acme", "check").exit_code == 0
