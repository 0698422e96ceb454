"""Run the REST server under uvicorn: :func:`serve` is what ``memoryd serve`` calls."""

from __future__ import annotations

import copy
import logging
from typing import Any

import uvicorn

from memoryd.config import Settings
from memoryd.errors import BackendUnavailableError, MemorydError
from memoryd.server.app import create_app

__all__ = ["serve", "uvicorn_log_config"]

log = logging.getLogger("memoryd.server")


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging setup, extended so memoryd's own loggers print the same way."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["memoryd"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve memoryd over HTTP until SIGINT/SIGTERM (in-flight requests are drained).

    ``host``/``port`` override ``settings.server``; the log level comes from
    ``settings.server.log_level``. Start-up logs the database path and the embedder.
    If the server cannot start (the store cannot be opened), this raises: the
    :class:`MemorydError` that stopped it, else :class:`BackendUnavailableError`.
    """
    host = host or settings.server.host
    port = settings.server.port if port is None else port
    level = settings.server.log_level
    # The app decides whether API keys are required from the address it really listens on.
    server_cfg = settings.server.model_copy(update={"host": host, "port": port})
    settings = settings.model_copy(update={"server": server_cfg})
    app = create_app(settings)
    config = uvicorn.Config(  # configures logging, memoryd's loggers included
        app,
        host=host,
        port=port,
        log_level=level,
        log_config=uvicorn_log_config(level),
        lifespan="on",
        ws="none",
        proxy_headers=False,
    )
    log.info(
        "starting memoryd on http://%s:%d: database %s, embedder %r",
        host,
        port,
        settings.storage.path,
        settings.embedder.provider,
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit:  # uvicorn logs a failed start-up, then exits; the caller gets an error instead
        if server.started:
            raise
    if not server.started:
        error = app.state.memoryd.startup_error
        if isinstance(error, MemorydError):
            raise error
        raise BackendUnavailableError("memoryd did not start; the log above says why") from error
