"""A real server with API keys: helpers to create keys in the store the server reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoryd import Settings
from memoryd.auth import create_key, open_key_store
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import Running, make_settings, running_server


def with_auth(settings: Settings, **auth: Any) -> Settings:
    return settings.model_copy(update={"auth": settings.auth.model_copy(update=auth)})


def new_key(settings: Settings, role: str, **kwargs: Any) -> str:
    """Create a key the way `memoryd keys create` does; return its text."""
    store = open_key_store(settings)
    try:
        return create_key(store, role, **kwargs).key
    finally:
        store.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def auth_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data" / "memoryd.db")


@pytest.fixture
def auth_server(auth_settings: Settings, embedder: USEEmbedder) -> Iterator[Running]:
    with running_server(auth_settings, embedder) as running:
        yield running


@pytest.fixture
def http(auth_server: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=auth_server.url, timeout=30) as c:
        yield c
