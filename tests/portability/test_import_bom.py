"""An export saved again by an editor that writes a UTF-8 byte order mark (Notepad, some Windows
tools) is the same export: it imports whole, rather than being refused as "line 1: not JSON
(Unexpected UTF-8 BOM)"."""

from __future__ import annotations

from pathlib import Path

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.portability import export_store, import_store
from tests.portability.conftest import store_settings


async def test_an_export_with_a_byte_order_mark_imports(tmp_path: Path, embedder: USEEmbedder) -> None:
    out = tmp_path / "ana.jsonl"
    async with AsyncMemory(store_settings(tmp_path / "source.db"), embedder=embedder) as mem:
        await mem.add(["I like green tea", "我住在杭州"], user_id="ana", run_id="s1")
        exported = await export_store(mem, out)
    saved = tmp_path / "saved.jsonl"
    saved.write_bytes(b"\xef\xbb\xbf" + out.read_bytes().replace(b"\n", b"\r\n"))
    async with AsyncMemory(store_settings(tmp_path / "copy.db"), embedder=embedder) as mem:
        imported = await import_store(mem, saved)
        assert imported.counts == exported.counts
        assert {m.text for m in (await mem.get_all(user_id="ana")).items} >= {"I like green tea", "我住在杭州"}
