"""Tenant stores: one file each, opened on demand, the least recently used closed past the cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd import AsyncMemory, Settings, load_settings, tenancy
from memoryd.embedders.use import USEEmbedder
from memoryd.tenancy import Tenants


def _one_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings keeping one tenant store open, closing an idle one at once."""
    monkeypatch.setattr(tenancy, "IDLE_BEFORE_CLOSE_S", 0.0)
    return load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}, "auth": {"max_open_tenants": 1}}
    )


async def test_tenant_stores_are_separate_files_and_reopen_after_eviction(
    tmp_path: Path, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _one_open(tmp_path, monkeypatch)
    async with AsyncMemory(settings, embedder=embedder) as base:
        tenants = Tenants(settings, base)
        try:
            assert await tenants.get("default") is base
            acme = await tenants.get("acme")
            await acme.add("acme's secret plan", user_id="ana")
            zeta = await tenants.get("zeta")  # over the cap: acme, idle, is closed
            assert (await zeta.get_all(user_id="ana")).total == 0
            assert (await base.get_all(user_id="ana")).total == 0
            again = await tenants.get("acme")
            assert again is not acme  # reopened from its file, with its data
            assert [m.text for m in (await again.get_all(user_id="ana")).items] == ["acme's secret plan"]
        finally:
            await tenants.close()
    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.db")}
    assert {"m.db", "tenants/acme/m.db", "tenants/zeta/m.db"} <= files


async def test_a_tenant_store_with_a_write_under_way_is_not_closed_past_the_cap(
    tmp_path: Path, embedder: USEEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store looked up long ago (a slow fine-mode add waiting on the LLM) was closed under its
    request once other tenants were opened: the write then failed, "the store is closing"."""
    from memoryd.models import Scope

    settings = _one_open(tmp_path, monkeypatch)
    async with AsyncMemory(settings, embedder=embedder) as base:
        tenants = Tenants(settings, base)
        try:
            acme = await tenants.get("acme")
            async with acme._writing.of(Scope("ana")):  # an add of acme's, under way
                zeta = await tenants.get("zeta")  # over the cap: acme is busy, zeta is not
                assert await tenants.get("acme") is acme
                await acme.storage.records.stats()  # still open
            await tenants.get("omega")  # now acme and zeta are idle: closed down to the cap
            assert await tenants.get("acme") is not acme
            assert zeta is not await tenants.get("zeta")
        finally:
            await tenants.close()
