"""Tenant names are case-sensitive; the folders of their stores must stay apart where case is not.

The tests run on a filesystem that tells capitals apart (Linux). A folder the lowercase name also
reaches, as it would on macOS or Windows, is made here with a symbolic link: the store is then
shared exactly as a case-folding filesystem shares it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd import AsyncMemory, ConfigError, Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from memoryd.tenancy import Tenants


def _settings(tmp_path: Path) -> Settings:
    return load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})


async def _texts(memory: AsyncMemory, user_id: str) -> list[str]:
    return sorted(m.text for m in (await memory.get_all(user_id=user_id)).items)


async def _old_store(path: Path, embedder: USEEmbedder, text: str) -> None:
    """A store made where the old naming put a tenant's: ``tenants/<name>/m.db``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = load_settings(env={}, overrides={"storage": {"path": str(path)}})
    async with AsyncMemory(settings, embedder=embedder) as memory:
        await memory.add(text, user_id="ana")


async def test_two_tenants_whose_names_differ_only_in_case_never_share_a_folder(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = _settings(tmp_path)
    async with AsyncMemory(settings, embedder=embedder) as base:
        tenants = Tenants(settings, base)
        try:
            await (await tenants.get("Acme")).add("Acme's vault code is 1234", user_id="ana")
            await (await tenants.get("acme")).add("acme's vault code is 9876", user_id="ana")
            assert await _texts(await tenants.get("Acme"), "ana") == ["Acme's vault code is 1234"]
            assert await _texts(await tenants.get("acme"), "ana") == ["acme's vault code is 9876"]
        finally:
            await tenants.close()
    files = [p for p in (tmp_path / "tenants").rglob("m.db")]
    folders = {p.parent for p in files}
    # apart on a filesystem that folds case too (macOS, Windows): not two spellings of one name
    assert len({p.name.casefold() for p in folders}) == 2
    assert (tmp_path / "tenants" / "acme" / "m.db") in files  # a lowercase name is its folder's


async def test_stores_made_by_the_old_naming_are_still_found(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = _settings(tmp_path)
    await _old_store(tmp_path / "tenants" / "acme" / "m.db", embedder, "acme's old memory")
    # a capitalised name's old folder is its own where case is told apart: it is kept
    await _old_store(tmp_path / "tenants" / "Zeta" / "m.db", embedder, "Zeta's old memory")
    async with AsyncMemory(settings, embedder=embedder) as base:
        tenants = Tenants(settings, base)
        try:
            assert await _texts(await tenants.get("acme", create=False), "ana") == ["acme's old memory"]
            assert await _texts(await tenants.get("Zeta", create=False), "ana") == ["Zeta's old memory"]
            await (await tenants.get("zeta")).add("zeta's new memory", user_id="ana")
            assert await _texts(await tenants.get("zeta"), "ana") == ["zeta's new memory"]
        finally:
            await tenants.close()
    assert not (tmp_path / "tenants" / "Zeta.1").exists()  # nothing moved, nothing made beside it


async def test_an_old_folder_the_lowercase_name_shares_is_refused_until_the_operator_says_whose(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    """Where case is folded, ``Acme`` and ``acme`` have used one folder: whose memories it holds
    nobody can tell, so ``Acme`` is refused with the two ways out; ``acme`` keeps its folder."""
    settings = _settings(tmp_path)
    root = tmp_path / "tenants"
    await _old_store(root / "Acme" / "m.db", embedder, "a memory of Acme, or of acme")
    (root / "acme").symlink_to("Acme", target_is_directory=True)  # as a case-folding filesystem does
    async with AsyncMemory(settings, embedder=embedder) as base:
        tenants = Tenants(settings, base)
        try:
            with pytest.raises(ConfigError) as refused:
                await tenants.get("Acme")
            message = refused.value.message
            assert "move it to Acme.1 if" in message and "create Acme.1 empty" in message
            assert refused.value.field == "auth.tenants_dir"
            assert await _texts(await tenants.get("acme"), "ana") == ["a memory of Acme, or of acme"]
            (root / "Acme.1").mkdir()  # the operator's answer: Acme starts anew
            await (await tenants.get("Acme")).add("Acme's first memory", user_id="ana")
            assert await _texts(await tenants.get("Acme"), "ana") == ["Acme's first memory"]
            assert await _texts(await tenants.get("acme"), "ana") == ["a memory of Acme, or of acme"]
        finally:
            await tenants.close()
