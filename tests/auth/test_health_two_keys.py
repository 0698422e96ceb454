"""``GET /health`` reads the Authorization header as the auth middleware does: two different
lines are no one's key. Before, it took the first line, so a proxy that put its own admin key
before the client's gave every caller the full report (counts, paths, endpoints, errors)."""

from __future__ import annotations

from typing import Any

import httpx

from memoryd import Settings
from tests.auth.conftest import bearer, new_key


def _is_summary(body: dict[str, Any]) -> bool:
    checks = body["checks"]
    return "detail" in body and bool(checks) and all(set(check) == {"status"} for check in checks.values())


def test_two_different_keys_on_health_get_the_summary_in_either_order(
    http: httpx.Client, auth_settings: Settings
) -> None:
    admin = new_key(auth_settings, "admin")
    service = new_key(auth_settings, "service")
    full = http.get("/health", headers=bearer(admin))
    assert full.status_code == 200 and not _is_summary(full.json()), full.text
    assert _is_summary(http.get("/health", headers=bearer(service)).json())
    for first, second in ((admin, service), (service, admin)):
        headers = [("Authorization", f"Bearer {first}"), ("Authorization", f"Bearer {second}")]
        r = http.get("/health", headers=headers)
        assert r.status_code == 200 and _is_summary(r.json()), r.text  # the probe still answers
    # the same admin key twice is that key, as on every route
    twice = [("Authorization", f"Bearer {admin}"), ("Authorization", f"Bearer {admin}")]
    assert not _is_summary(http.get("/health", headers=twice).json())
