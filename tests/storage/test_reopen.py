"""An ``AsyncMemory`` whose opening failed answers its later calls with the cause (and opens once
the cause is gone), not with "the SQLite database is not open"; one its owner closed stays closed
until it is opened again."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd import AsyncMemory, Settings
from memoryd.errors import EmbedderMismatchError, StorageError


async def test_a_failed_open_is_retried_by_the_next_call_and_names_its_cause(
    tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "data"
    blocker.write_text("a file where the store's directory should be")
    settings = Settings.model_validate({"storage": {"path": str(blocker / "m.db")}})
    memory = AsyncMemory(settings, embedder=embedder)
    try:
        with pytest.raises(StorageError, match="cannot create the directory for storage.path"):
            await memory.open()
        with pytest.raises(StorageError, match="cannot create the directory for storage.path"):
            await memory.add(
                "the blue notebook is on the shelf", user_id="ana"
            )  # was "the SQLite database is not open"
        blocker.unlink()  # the cause fixed: the same object opens and works
        added = await memory.add("the blue notebook is on the shelf", user_id="ana")
        assert [r.event.value for r in added] == ["ADD"]
        assert (await memory.search("blue notebook", user_id="ana"))[
            0
        ].memory.text == "the blue notebook is on the shelf"
    finally:
        await memory.close()


async def test_another_embedders_store_says_so_on_every_call_not_that_it_is_not_open(
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "m.db"
    async with AsyncMemory(Settings.model_validate({"storage": {"path": str(path)}}), embedder=embedder) as m:
        await m.add("hello there", user_id="ana")
    other = Settings.model_validate({"storage": {"path": str(path)}, "embedder": {"provider": "minilm"}})
    memory = AsyncMemory(other)
    try:
        for call in (
            memory.open,
            lambda: memory.get_all(user_id="ana"),
            lambda: memory.delete_all(user_id="ana"),
        ):
            with pytest.raises(EmbedderMismatchError, match="holds 1 vector made by"):
                await call()
    finally:
        await memory.close()


async def test_a_closed_store_is_not_reopened_by_a_call_but_by_open(settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    memory = AsyncMemory(settings, embedder=embedder)
    await memory.open()
    await memory.add("the blue notebook is on the shelf", user_id="ana")
    await memory.close()
    with pytest.raises(StorageError, match="was closed"):  # a late call holding it opens nothing
        await memory.get_all(user_id="ana")
    await memory.open()
    try:
        assert [m.text for m in (await memory.get_all(user_id="ana")).items] == [
            "the blue notebook is on the shelf"
        ]
    finally:
        await memory.close()
