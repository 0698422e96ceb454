"""``/health``, ``/health/ready`` and ``/health/live`` document their bodies in /openapi.json
(they showed none), and their real answers match: healthy, with a store that is down (503),
and the statuses-only summary a caller without an admin key gets."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd.config import Settings
from tests.api.conftest import Running
from tests.api.schema_check import SchemaCheck
from tests.auth.conftest import bearer, new_key


def test_health_answers_match_their_schema(
    http: httpx.Client, auth_server: Running, auth_settings: Settings
) -> None:
    check = SchemaCheck.served_by(http)
    for path in ("/health", "/health/ready", "/health/live"):
        check(http.get(path), path)
    full = check(http.get("/health"), "/health")
    assert full["checks"]["storage"]["memories"] == 0  # the figures: a local caller in open mode

    admin = new_key(auth_settings, "admin")
    summary = check(http.get("/health"), "/health")  # keys now required: statuses only
    assert "detail" in summary and set(summary["checks"]["storage"]) == {"status"}

    path = auth_server.memory.settings.storage.path
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        file.unlink(missing_ok=True)  # the store goes down: 503s, in the same documented shapes
    down = http.get("/health", headers=bearer(admin))
    assert down.status_code == 503
    assert check.validate(down, "/health")["checks"]["storage"]["status"] == "error"
    not_ready = http.get("/health/ready")
    assert not_ready.status_code == 503
    assert check.validate(not_ready, "/health/ready")["status"] == "unavailable"
