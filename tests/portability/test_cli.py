"""``memoryd export`` and ``memoryd import`` on real stores, in process."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from tests.fakes.llm_server import Script
from tests.portability.conftest import fill, lines, store_settings

Cli = Callable[..., Result]


def test_export_then_import(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, cli: Cli) -> None:
    source = asyncio.run(fill(tmp_path, fake_llm, embedder)).storage.path
    out, target = tmp_path / "out" / "alice.jsonl", tmp_path / "target.db"
    exported = cli(source, "export", str(out), "--user-id", "alice", "--json")
    assert exported.exit_code == 0, exported.stderr
    counts = json.loads(exported.stdout)["counts"]
    assert counts["memory"] > 5 and counts["relation"] == 2
    assert not (out.parent / "alice.jsonl.partial").exists()

    imported = cli(target, "import", str(out))
    assert imported.exit_code == 0, imported.stderr
    assert "imported" in imported.stdout and "vectors reused" in imported.stdout
    listed = cli(target, "list", "--user-id", "alice", "--json")
    assert json.loads(listed.stdout)["total"] == len(
        [1 for line in lines(out) if json.loads(line)["type"] == "memory" and json.loads(line)["valid_to"] is None]
    )

    again = cli(target, "import", str(out))
    assert again.exit_code == 1 and "already holds memories" in again.stderr
    assert "Traceback" not in again.stderr
    said = " ".join(again.stderr.split())  # whose memories they are
    assert "a memory of user 'alice'" in said, said

    piped = cli(source, "export", "-", "-u", "bob")
    assert piped.exit_code == 0, piped.stderr
    docs = [json.loads(line) for line in piped.stdout.splitlines()]
    assert docs[0]["type"] == "header" and docs[-1]["type"] == "end"
    assert "exported" in piped.stderr
    for target in (str(tmp_path / "nobody.jsonl"), "-"):  # a user named in the wrong case: said so
        empty = cli(source, "export", target, "-u", "ALICE")
        said = " ".join(empty.stderr.split())
        assert empty.exit_code == 0 and "--user-id 'alice' has some (ids are case-sensitive)" in said


def test_import_of_a_broken_file_is_one_error_line(tmp_path: Path, cli: Cli) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "memory"}\n')
    result = cli(tmp_path / "t.db", "import", str(bad))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: line 1: a memoryd export starts with its header (field: file)"]


def test_import_of_a_messages_file_names_memoryd_add(tmp_path: Path, cli: Cli) -> None:
    for name, text in (
        ("said.jsonl", '{"role": "user", "content": "I live in Paris"}\n'),
        ("said.json", '[{"role": "user", "content": "我住在上海"}]\n'),
    ):
        said = tmp_path / name
        said.write_text(text, encoding="utf-8")
        result = cli(tmp_path / "t.db", "import", str(said))
        assert result.exit_code == 1
        message = " ".join(result.stderr.split())
        assert "a memoryd export starts with its header" in message
        assert f"it holds messages: remember them with `memoryd add --file {said} -u USER`" in message, message
        assert not (tmp_path / "t.db").exists()


def test_tenant_stores(tmp_path: Path, embedder: USEEmbedder, cli: Cli) -> None:
    store = tmp_path / "main.db"

    async def seed() -> None:
        settings = store_settings(store).for_tenant("acme")
        async with AsyncMemory(settings, embedder=embedder) as mem:
            await mem.add("acme's only memory", user_id="ana")

    asyncio.run(seed())
    out = tmp_path / "acme.jsonl"
    exported = cli(store, "export", str(out), "--tenant", "acme", "--json")
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(exported.stdout)["counts"]["memory"] == 1
    assert cli(store, "check", "--tenant", "acme").exit_code == 0
    imported = cli(store, "import", str(out), "--tenant", "beta")
    assert imported.exit_code == 0, imported.stderr
    assert (tmp_path / "tenants" / "beta" / "main.db").exists()
    piped = cli(store, "export", "-", "--tenant", "beta")
    assert json.loads(piped.stdout.splitlines()[-1])["counts"]["memory"] == 1
    bad = cli(store, "check", "--tenant", "../etc")
    assert bad.exit_code == 2 and "tenant must be" in bad.stderr  # a usage error, as the root's -t


def test_a_refused_import_leaves_no_store_behind(tmp_path: Path, cli: Cli) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    store = tmp_path / "never" / "made.db"
    refused = cli(store, "import", str(empty))
    assert refused.exit_code == 1 and "not a memoryd export" in refused.stderr
    assert not store.exists()  # "a mistyped path never makes an empty store"


def test_a_store_with_a_memory_it_cannot_read_exports_the_rest_when_asked(
    tmp_path: Path, embedder: USEEmbedder, cli: Cli
) -> None:
    """`memoryd check` says to export what is still readable; the export stopped at the first
    memory it could not read. Now it says how to go on, and --skip-unreadable writes the rest,
    which imports into a store that checks clean."""
    store = tmp_path / "damaged.db"

    async def seed() -> list[str]:
        async with AsyncMemory(store_settings(store), embedder=embedder) as mem:
            added = await mem.add(["I love hiking", "My cat is Tom", "Rain again today"], user_id="ana")
            await mem.update(added[1].id, "My cat is Tom Junior")
            return [r.id for r in added if r.kind == "episode"]

    ids = asyncio.run(seed())
    conn = sqlite3.connect(store)
    with conn:
        conn.execute("UPDATE memories SET kind = 'insight' WHERE id = ?", (ids[1],))  # a newer memoryd's
    conn.close()
    out = tmp_path / "rest.jsonl"

    stopped = cli(store, "export", str(out))
    assert stopped.exit_code == 1 and f"memory {ids[1]} cannot be read" in stopped.stderr
    assert "--skip-unreadable" in stopped.stderr and not out.exists()
    assert "--skip-unreadable" in cli(store, "check").stdout  # the advice names the way that works

    exported = cli(store, "export", str(out), "--skip-unreadable", "--json")
    assert exported.exit_code == 0, exported.stderr
    summary = json.loads(exported.stdout)
    assert summary["unreadable"] == [ids[1]]
    docs = [json.loads(line) for line in lines(out)]
    assert ids[1] not in {d.get("id") for d in docs if d["type"] == "memory"}
    assert ids[1] not in {d.get("memory_id") for d in docs if d["type"] in ("history", "tier_turn")}
    assert ids[0] in {d.get("memory_id") for d in docs if d["type"] == "tier_turn"}
    assert {ids[0], ids[2]} <= {d.get("id") for d in docs if d["type"] == "memory"}
    human = cli(store, "export", str(tmp_path / "again.jsonl"), "--skip-unreadable")
    assert "left out 1 memory this memoryd cannot read" in human.stdout and ids[1] in human.stdout

    target = tmp_path / "new.db"
    imported = cli(target, "import", str(out))
    assert imported.exit_code == 0, imported.stderr
    checked = cli(target, "check", "--json")
    assert checked.exit_code == 0, checked.stdout
    listed = json.loads(cli(target, "list", "-u", "ana", "--json", "--filters", '{"kind": "episode"}').stdout)
    assert sorted(m["text"] for m in listed["results"]) == ["I love hiking", "Rain again today"]


def test_an_export_to_a_stdout_that_cannot_take_it_is_one_error_line(tmp_path: Path, embedder: USEEmbedder) -> None:
    import os
    import subprocess
    import sys

    settings = store_settings(tmp_path / "store.db")

    async def fill_one() -> None:
        async with AsyncMemory(settings, embedder=embedder) as mem:
            await mem.add("I like green tea", user_id="ana")

    asyncio.run(fill_one())
    env = {**os.environ, "MEMORYD_STORAGE__PATH": str(settings.storage.path)}
    with open("/dev/full", "w") as full:  # a disk with no room left behind stdout
        done = subprocess.run([sys.executable, "-m", "memoryd", "export", "-"], env=env, stdout=full,
                              stderr=subprocess.PIPE, timeout=120, check=False)  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 1 and "cannot write the export: No space left on device" in err
    assert "Traceback" not in err
