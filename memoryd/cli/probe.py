"""``memoryd serve --check``: whether the server these settings describe is ready.

A container's health check runs it (``deploy/compose.yaml``): it needs nothing the image
lacks (no curl), and it reads the same settings as the server, so a changed port or
address never leaves the check knocking on the old one. It asks ``/health/ready``, which
needs no key, on loopback when the server binds to every address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import httpx

from memoryd.config import Settings

__all__ = ["Readiness", "probe_url", "ready"]

TIMEOUT_S = 5.0
_ANY = {"", "0.0.0.0", "::", "*"}  # noqa: S104 - addresses a server binds to, never connected to


@dataclass(frozen=True, slots=True)
class Readiness:
    """What the server answered: ``ok`` (200 from ``/health/ready``), and why not."""

    url: str
    ok: bool
    detail: str
    mode: str | None = None  # "DegradedReady": serving, with a dependency down

    def to_dict(self) -> dict[str, object]:
        return {"url": self.url, "ready": self.ok, "detail": self.detail, "mode": self.mode}


def probe_url(settings: Settings, host: str | None = None, port: int | None = None) -> str:
    """The readiness URL of the server that ``serve`` (with these ``--host``/``--port``) runs."""
    host = settings.server.host if host is None else host
    port = settings.server.port if port is None else port
    if host.strip() in _ANY:
        host = "::1" if host.strip() == "::" else "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a name
    return f"http://{host}:{port}/health/ready"


def ready(settings: Settings, host: str | None = None, port: int | None = None) -> Readiness:
    """Ask the server; never raises (a refused connection or a timeout is a "no")."""
    url = probe_url(settings, host, port)
    try:
        with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        return Readiness(url, False, f"no answer: {type(exc).__name__}: {exc}".rstrip(": "))
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Readiness(url, False, f"HTTP {response.status_code}, not a memoryd readiness answer")
    if response.status_code == 200 and body.get("status") == "ready":
        mode = body.get("mode")
        return Readiness(url, True, "ready" if mode is None else f"ready ({mode})", mode)
    reason = body.get("reason") or body.get("detail") or body.get("status") or "not ready"
    return Readiness(url, False, f"HTTP {response.status_code}: {reason}")
