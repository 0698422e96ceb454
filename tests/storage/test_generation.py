"""Another process's commits empty a server's caches of the file; commands that only read must not.

Every memoryd command opens the store, which creates the schema when missing: that write changed
no row, yet it counted as a commit, and the server threw away every index partition and record
cache (a 30k-memory user's next search: 7 ms -> 530 ms)."""

from __future__ import annotations

from pathlib import Path

from memoryd import AsyncMemory, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.storage.sqlite.database import SQLiteDatabase


async def test_opening_and_reading_the_store_elsewhere_keeps_the_servers_caches(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})
    async with AsyncMemory(settings, embedder=embedder) as server:
        await server.add([f"note {i} about the garden" for i in range(20)], user_id="ana")
        db = server.storage.records.db  # type: ignore[attr-defined]
        assert isinstance(db, SQLiteDatabase)
        before = db.epoch()
        async with AsyncMemory(settings, embedder=embedder) as command:  # `memoryd list`, say
            assert len((await command.get_all(user_id="ana")).items) == 20
            assert await command.history((await command.get_all(user_id="ana")).items[0].id)
        assert db.epoch() == before  # nothing of the file changed: the caches stand
        async with AsyncMemory(settings, embedder=embedder) as writer:  # `memoryd add`
            await writer.add("a note about the shed", user_id="bo")
        assert db.epoch() > before  # a write of another process still empties them
        assert "shed" in (await server.search("shed", user_id="bo"))[0].memory.text
