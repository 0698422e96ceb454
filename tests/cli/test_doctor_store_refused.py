"""``memoryd doctor``'s store check on a store the machine will not let it write (a full disk, a
read-only mount) gives the machine's fix, not "`memoryd check` or move it aside" (a good store)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from memoryd import AsyncMemory, load_settings
from memoryd.cli import doctor
from memoryd.embedders.use import USEEmbedder
from tests.pipeline.test_store_refuses_writes import fill, small_disk
from tests.storage.test_open_refused import read_only


async def _made(path: Path, embedder: USEEmbedder) -> None:
    async with AsyncMemory(load_settings(env={"MEMORYD_STORAGE__PATH": str(path)}), embedder=embedder) as mem:
        await mem.add("I keep bees", user_id="ana")


def test_a_store_on_a_full_disk_is_to_get_free_space(tmp_path: Path, embedder: USEEmbedder) -> None:
    with small_disk(tmp_path / "disk", size="2m") as disk:
        path = disk / "memoryd.db"
        asyncio.run(_made(path, embedder))
        fill(disk)
        check = doctor.store_check(load_settings(env={"MEMORYD_STORAGE__PATH": str(path)}), embedder)
    assert check.status == "fail" and "the disk holding it is full" in check.detail, check.detail
    assert check.fix is not None and check.fix.startswith("free space on that disk"), check.fix
    assert "move it aside" not in f"{check.detail} {check.fix}"


def test_a_store_on_a_read_only_mount_is_to_be_mounted_read_write(tmp_path: Path, embedder: USEEmbedder) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    asyncio.run(_made(folder / "memoryd.db", embedder))
    with read_only(folder, tmp_path / "ro") as mounted:
        settings = load_settings(env={"MEMORYD_STORAGE__PATH": str(mounted / "memoryd.db")})
        check = doctor.store_check(settings, embedder)
    assert check.status == "fail" and "mounted read-only" in check.detail, check.detail
    assert check.fix is not None and check.fix.startswith("mount it read-write"), check.fix
    assert "move it aside" not in f"{check.detail} {check.fix}"
