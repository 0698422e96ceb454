"""Forgetting a user leaves nothing of theirs in any table of the SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from memoryd import AsyncMemory, NotFoundError, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.storage.sqlite.changes import key
from tests.hierarchy.conftest import TOPICS, chat

SECRET_WORDS = ("Sintra", "Miso", "Globex", "risotto", "concise")


def _rows_mentioning(path: Path, needles: tuple[str, ...]) -> dict[str, int]:
    """Every table (FTS shadow tables included): rows whose text or blob contains a needle."""
    found: dict[str, int] = {}
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    text = cell.decode("utf-8", "ignore") if isinstance(cell, bytes) else cell
                    if isinstance(text, str) and any(n.casefold() in text.casefold() for n in needles):
                        found[table] = found.get(table, 0) + 1
                        break
    return found


async def test_deleting_a_user_leaves_nothing_in_any_table(tmp_path: Path, embedder: USEEmbedder) -> None:
    path = tmp_path / "forget.db"
    settings = load_settings(
        env={},
        overrides={
            "storage": {"path": str(path), "synchronous": "NORMAL"},
            "tiers": {"short_term_turns": 2, "promote_heat": 1.0},
        },
    )
    async with AsyncMemory(settings, embedder=embedder) as mem:
        for n, turns in enumerate(TOPICS.values()):
            await chat(mem, turns, user_id="ana-secret", run_id=f"s{n}")
        await mem.add("Please be more concise.", user_id="ana-secret", agent_id="helper", run_id="s9")
        await mem.add("I like chess.", user_id="bob")
        await mem.search("Sintra trails", user_id="ana-secret")
        await mem.context("what does Miso do?", user_id="ana-secret")
        doomed = await mem.get_all(user_id="ana-secret", limit=1, include_expired=True)
        assert doomed.total > 16
        assert (await mem.tree("ana-secret"))["counts"]["segments"] > 0
        assert await mem.delete_user("ana-secret") == doomed.total
        assert await mem.users() == [row for row in await mem.users() if row["user_id"] == "bob"]
        with pytest.raises(NotFoundError):  # nothing of hers stored: no tree
            await mem.tree("ana-secret")
        assert "I like chess." in [h.memory.text for h in await mem.search("chess", user_id="bob")]
    leftovers = _rows_mentioning(path, ("ana-secret", *SECRET_WORDS))
    assert leftovers == {}, leftovers
    # nor a digest of her ids in the log other processes' caches read (one confirms a guess)
    assert _rows_mentioning(path, (key("user_id", "ana-secret"), key("run_id", "s9"))) == {}
    assert _rows_mentioning(path, ("bob", "chess"))  # the scan does see what is there
