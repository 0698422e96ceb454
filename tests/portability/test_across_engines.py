"""An export of a SQLite store imported into a store whose vectors are in PostgreSQL (pgvector),
and that store's export imported back into SQLite: every line is the same, field for field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store
from memoryd.portability import export_store, import_store
from tests.fakes.llm_server import Script
from tests.faults.embedders import HalfEmbedder
from tests.hierarchy.conftest import TOPICS, chat
from tests.portability.conftest import fill, lines
from tests.storage.postgres_server import postgres_url, table_for


def _postgres(path: Path, **sections: Any) -> Settings:
    """A store at ``path`` whose vectors are in the test PostgreSQL server (a table of its own)."""
    section = {"url": postgres_url(), "table": table_for(path)}
    storage = {"path": str(path), "vectors": "postgres", "postgres": section}
    return load_settings(env={}, overrides={"storage": storage, **sections})


async def _more(settings: Settings, embedder: USEEmbedder) -> None:
    """Times in another zone, nested unicode metadata, tastes (preferences), a profile, turns."""
    async with AsyncMemory(settings, embedder=embedder) as mem:
        meta: dict[str, Any] = {"日本": {"深い": [1, 2.5, None, True, {"ünï": "😀"}]}, "empty": {}, "l": []}
        await mem.add("I like green tea", user_id="carol", run_id="c1", mode="fast", metadata=meta,
                      timestamp="2024-02-29T23:30:00.123456+05:30")  # fmt: skip
        await mem.add("My name is Carol and I live in Lyon", user_id="carol", run_id="c1", mode="fast")
        await mem.add("I dislike green tea", user_id="carol", run_id="c2", mode="fast",
                      timestamp="2024-03-01T08:00:00-08:00")  # fmt: skip
        await chat(mem, TOPICS["cat"][:3], user_id="carol", run_id="c3")


async def test_sqlite_to_postgres_and_back_keeps_every_line(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    source = await fill(tmp_path, fake_llm, embedder)
    await _more(source, embedder)
    first, second, third = (tmp_path / f"{n}.jsonl" for n in ("first", "second", "third"))
    async with AsyncMemory(source, embedder=embedder) as mem:
        exported = await export_store(mem, first)
    pg = _postgres(tmp_path / "pg.db")
    async with AsyncMemory(pg, embedder=embedder) as mem:
        imported = await import_store(mem, first)
        assert imported.counts == exported.counts and imported.reembedded == 0
        await export_store(mem, second)
    assert lines(second) == lines(first)
    back = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "back.db")}})
    async with AsyncMemory(back, embedder=embedder) as mem:
        await import_store(mem, second)
        await export_store(mem, third)
    assert lines(third) == lines(first)
    docs = [json.loads(line) for line in lines(first)]
    carol = {d["text"]: d for d in docs if d["type"] == "memory" and d["user_id"] == "carol"}
    liked = carol["The user likes green tea."]  # ended by the later dislike, in UTC
    assert liked["valid_to"] == "2024-03-01T16:00:00.000000+00:00"
    assert carol["I like green tea"]["event_time"] == "2024-02-29T18:00:00.123456+00:00"
    assert carol["I like green tea"]["metadata"]["日本"] == {"深い": [1, 2.5, None, True, {"ünï": "😀"}]}
    assert {d["kind"] for d in carol.values()} >= {"episode", "preference", "profile"}
    assert all(exported.counts[kind] for kind in ("history", "entity", "relation", "tier_turn"))
    async with AsyncMemory(pg, embedder=embedder) as mem:  # the copy answers as of a time, too
        now = await mem.search("green tea", user_id="carol", filters={"kind": "preference"})
        then = await mem.search("green tea", user_id="carol", as_of="2024-03-01T10:00:00Z",
                                filters={"kind": "preference"})  # fmt: skip
        history = [h.event.value for h in await mem.history(liked["id"])]
    assert [h.memory.text for h in now] == ["The user dislikes green tea."]
    assert [h.memory.text for h in then] == ["The user likes green tea."]
    assert history[0] == "ADD" and history[-1] == "SUPERSEDE"


async def test_into_postgres_with_another_embedder_reembeds(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, half: type[HalfEmbedder]
) -> None:
    source = await fill(tmp_path, fake_llm, embedder)
    out = tmp_path / "use.jsonl"
    async with AsyncMemory(source, embedder=embedder) as mem:
        exported = await export_store(mem, out)
    target = _postgres(tmp_path / "half.db", embedder={"provider": "half"})
    async with AsyncMemory(target) as mem:
        done = await import_store(mem, out, batch_size=4)
        assert not done.reused_vectors and done.reembedded == exported.counts["memory"]
        hits = await mem.search("prefer tea", user_id="bob", limit=3)
        assert "I prefer tea" in {h.memory.text for h in hits}
        vectors = await mem.storage.vectors.vectors([h.memory.id for h in hits])
        assert {v.shape for v in vectors.values()} == {(256,)}
    assert (await check_store(target)).ok
