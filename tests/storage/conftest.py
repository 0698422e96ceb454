"""The storage conformance suite runs every test body against every backend here.

A backend joins by adding a factory to ``BACKENDS``: it takes a tmp dir and
returns a :class:`memoryd.storage.Storage` whose three roles are that backend
(or a skip reason when its engine cannot run on this machine).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from memoryd.config import load_settings
from memoryd.storage import Storage, build_storage

DIM = 8
MODEL = "test-model"


def _sqlite(tmp: Path) -> Storage:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp / "conf.db")}})
    return build_storage(settings)


BACKENDS: dict[str, Callable[[Path], Storage]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Callable[[Path], Storage]:
    return BACKENDS[request.param]


@pytest.fixture
async def store(backend: Callable[[Path], Storage], tmp_path: Path) -> AsyncIterator[Storage]:
    storage = backend(tmp_path)
    await storage.open(MODEL, DIM)
    try:
        yield storage
    finally:
        await storage.close()
