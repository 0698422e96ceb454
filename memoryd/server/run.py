"""Run the REST server under uvicorn: :func:`serve` is what ``memoryd serve`` calls.

Start-up fails fast and plainly. Before anything loads, :func:`serve` checks that
every backend the settings name is registered (:func:`check_backends`) and binds
the listening address (:func:`bind`); uvicorn then serves on that very socket, so
no other process can take the port while the model loads. An expected error
(a :class:`MemorydError`) raised while the app starts (the store cannot be opened,
an embedder's extra is missing) is raised to the caller rather than logged with
its traceback: ``memoryd serve`` prints it as one line.
"""

from __future__ import annotations

import copy
import logging
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from memoryd.config import Settings
from memoryd.errors import BackendUnavailableError, MemorydError
from memoryd.server.app import create_app
from memoryd.server.listen import bind, check_backends
from memoryd.server.log_secrets import HideKeySecrets

__all__ = ["serve", "uvicorn_log_config"]

log = logging.getLogger("memoryd.server")

def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging setup, extended so memoryd's own loggers print the same way."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["memoryd"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    config.setdefault("filters", {})["key_secrets"] = {"()": HideKeySecrets}  # no key's secret printed
    for handler in config["handlers"].values():  # the access log, and uvicorn's and memoryd's own
        handler.setdefault("filters", []).append("key_secrets")
    return config


class _QuietStartup:
    """Wraps the app for uvicorn: when the app's start-up fails with an expected error (kept in
    ``app.state.memoryd.startup_error``, which :func:`serve` raises), uvicorn is not handed its
    traceback to log."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def quiet(message: Message) -> None:
            expected = isinstance(self.app.state.memoryd.startup_error, MemorydError)
            if message["type"] == "lifespan.startup.failed" and expected:
                message = {**message, "message": ""}  # uvicorn logs a non-empty one: a traceback
            await send(message)

        await self.app(scope, receive, quiet)


class _Server(uvicorn.Server):
    """uvicorn serving sockets bound beforehand, announcing the address as it does for its own."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            logging.getLogger("uvicorn.error").info("Uvicorn running on %s (Press CTRL+C to quit)", self.url)


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve memoryd over HTTP until SIGINT/SIGTERM (in-flight requests are drained).

    ``host``/``port`` override ``settings.server``; the log level comes from
    ``settings.server.log_level``. Start-up logs the database path and the embedder.
    If the server cannot start, this raises before anything is logged when a backend
    is unknown (:class:`ConfigError`) or the address is taken (:class:`MemorydError`),
    else once the app failed to start: the :class:`MemorydError` that stopped it (the
    store cannot be opened, ...), or :class:`BackendUnavailableError`.
    """
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    level = settings.server.log_level
    check_backends(settings)
    sockets = bind(host, port)
    try:
        # The app decides whether API keys are required from the address it really listens on.
        server_cfg = settings.server.model_copy(update={"host": host, "port": port})
        settings = settings.model_copy(update={"server": server_cfg})
        app = create_app(settings)
        wrapped = _QuietStartup(app)
        config = uvicorn.Config(  # configures logging, memoryd's loggers included
            wrapped,
            host=host,
            port=port,
            log_level=level,
            log_config=uvicorn_log_config(level),
            lifespan="on",
            ws="none",
            proxy_headers=False,
            # uvicorn's 5 s is httpx's own: an idle connection was closed as a client sent on it
            # (about 1 request in 1,000 under load failed, unanswered, in a review).
            timeout_keep_alive=settings.server.keep_alive_s,
        )
        url = _url(host, sockets[0])
        log.info(
            "starting memoryd on %s: database %s, embedder %r",
            url,
            settings.storage.path,
            settings.embedder.provider,
        )
        server = _Server(config, url)
        try:
            server.run(sockets=sockets)
        except SystemExit:  # uvicorn logs a failed start-up, then exits; the caller gets an error instead
            if server.started:
                raise
    finally:
        for sock in sockets:  # uvicorn closes them on shutdown, not after a failed start-up
            sock.close()
    if not server.started:
        error = app.state.memoryd.startup_error
        if isinstance(error, MemorydError):
            raise error
        raise BackendUnavailableError("memoryd did not start; the log above says why") from error
