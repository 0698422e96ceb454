"""Checks ``memoryd serve`` makes before anything loads, shared with ``memoryd doctor``: the
backends the settings name are registered (:func:`check_backends`) and the address can be bound
(:func:`bind`, whose sockets the server then serves on)."""

from __future__ import annotations

import errno
import socket
from typing import Any

from memoryd.config import Settings
from memoryd.errors import ConfigError, MemorydError
from memoryd.registry import STORAGE_ROLES, resolve

__all__ = ["bind", "check_backends"]


def check_backends(settings: Settings) -> None:
    """Every backend the settings name is registered and importable (nothing is loaded or opened).

    Raises :class:`ConfigError` naming the allowed ones for an unknown name, naming the setting
    a backend needs and lacks (``storage.postgres.url``), and
    :class:`~memoryd.errors.MissingExtraError` naming the ``pip install`` for a missing extra.
    """
    from memoryd.storage.resources import Resources

    for role in STORAGE_ROLES:
        resolve(role, getattr(settings.storage, role))
    resources = Resources(settings)
    for role in ("vectors", "keywords", "graph"):  # made, not opened: a setting they need is checked
        resolve(role, getattr(settings.storage, role)).from_resources(resources)
    resolve("embedder", settings.embedder.provider)
    if settings.pipeline.enabled:
        resolve("queue", settings.pipeline.backend)


def bind(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to ``host:port`` (one per address ``host`` resolves to), not yet listening.

    A taken port raises :class:`MemorydError` (``details``: ``problem`` and its ``repair``), the
    words ``memoryd doctor``'s port check shows too.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot bind {host}:{port}: {exc.strerror}", field="server.host") from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, addr in infos:
            if (family, addr) in seen:
                continue
            seen.add((family, addr))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            if family == socket.AF_INET6:  # "localhost": ::1 and 127.0.0.1 side by side, as asyncio does
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # the port the OS picked for the first address
                addr = (addr[0], sockets[0].getsockname()[1], *addr[2:])
            sock.bind(addr)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            problem = f"{host}:{port} is already in use (another memoryd?)"
            fix = f"stop what listens there (ss -ltnp 'sport = :{port}') or `memoryd serve --port {port + 1}`"
        else:
            problem = f"cannot bind {host}:{port}: {exc.strerror or exc}"
            fix = "set server.host / server.port (--host / --port)"
        raise MemorydError(f"{problem}: {fix}", problem=problem, repair=fix) from None
    return sockets
