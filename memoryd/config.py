"""Configuration: one frozen object, built once from a TOML file and ``MEMORYD_*``.

Precedence, lowest first: built-in defaults, the TOML file (``--config PATH``,
or ``MEMORYD_CONFIG``), then environment variables. A nested key is spelled
with a double underscore in the environment: ``storage.path`` is
``MEMORYD_STORAGE__PATH``. Unknown or misspelled keys are errors that name the
key and the allowed ones. Nothing here runs at import time.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from memoryd.errors import ConfigError

__all__ = [
    "EmbedderConfig",
    "LimitsConfig",
    "RuntimeConfig",
    "SearchConfig",
    "ServerConfig",
    "Settings",
    "StorageConfig",
    "load_settings",
]

ENV_PREFIX = "MEMORYD_"
CONFIG_ENV = "MEMORYD_CONFIG"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "memoryd"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageConfig(_Section):
    """Where memories live. ``sqlite`` is the embedded default for every role."""

    path: Path = Field(
        default_factory=lambda: default_data_dir() / "memoryd.db",
        description="SQLite database file (created when missing).",
    )
    records: str = Field("sqlite", description="Record store backend.")
    vectors: str = Field("sqlite", description="Vector index backend.")
    keywords: str = Field("sqlite", description="Keyword (BM25) index backend.")
    read_threads: int = Field(4, ge=1, le=64, description="Reader threads for SQLite.")
    synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="SQLite fsync policy: FULL survives power loss, NORMAL only crashes."
    )
    vector_cache_mb: int = Field(2048, ge=16, description="Memory (RAM) for loaded index partitions, in MiB.")
    exact_search_max: int = Field(
        20000,
        ge=0,
        description="Partitions up to this many vectors are searched exactly; larger ones shortlist "
        "candidates on a low-dimensional projection, then score them exactly.",
    )

    @field_validator("path", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return Path(os.path.expanduser(str(value))) if value is not None else value


class EmbedderConfig(_Section):
    """The embedding model. ``use`` (multilingual USE v3) or ``minilm`` (English)."""

    provider: str = Field("use", description="Embedder name in the registry: use | minilm.")
    batch_size: int = Field(64, ge=1, le=4096, description="Texts per embedding batch.")
    threads: int = Field(2, ge=1, le=64, description="CPU threads for the local model.")


class SearchConfig(_Section):
    """Hybrid retrieval defaults."""

    default_limit: int = Field(10, ge=1, le=1000)
    candidates: int = Field(100, ge=1, le=5000, description="Candidates per retriever before fusion.")
    rrf_k: float = Field(60.0, gt=0, description="Reciprocal rank fusion constant.")
    dense_weight: float = Field(1.0, ge=0)
    keyword_weight: float = Field(1.0, ge=0)
    recency_weight: float = Field(0.0, ge=0, description="0 turns recency boosting off.")
    recency_half_life_days: float = Field(30.0, gt=0)


class LimitsConfig(_Section):
    """Ceilings on what one request may carry."""

    max_message_chars: int = Field(32_000, ge=1)
    max_messages_per_add: int = Field(1_000, ge=1)
    max_limit: int = Field(1_000, ge=1)
    max_query_chars: int = Field(4_000, ge=1)
    max_filter_depth: int = Field(8, ge=1)
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)


class RuntimeConfig(_Section):
    """Process-wide compute settings."""

    blas_threads: int = Field(
        1,
        ge=0,
        le=64,
        description="Threads numpy's BLAS may use (0 leaves the library default). On small machines "
        "parallel BLAS threads spin between calls and add tail latency to every search.",
    )


class ServerConfig(_Section):
    """The HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(8420, ge=0, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"


class Settings(_Section):
    """Every setting memoryd reads. Build it with :func:`load_settings`."""

    storage: StorageConfig = Field(default_factory=lambda: StorageConfig())
    embedder: EmbedderConfig = Field(default_factory=lambda: EmbedderConfig())
    search: SearchConfig = Field(default_factory=lambda: SearchConfig())
    limits: LimitsConfig = Field(default_factory=lambda: LimitsConfig())
    server: ServerConfig = Field(default_factory=lambda: ServerConfig())
    runtime: RuntimeConfig = Field(default_factory=lambda: RuntimeConfig())

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data, with secrets masked, for ``config show``."""
        data = self.model_dump(mode="json")
        _mask(data)
        return data


_SECRET_WORDS = ("key", "secret", "password", "token")


def _mask(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            _mask(value)
        elif value and any(word in _SECRET_WORDS for word in key.lower().split("_")):
            data[key] = "***"


def _allowed(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_fields)


def _check_keys(data: Mapping[str, Any], model: type[BaseModel], prefix: str, source: str) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in model.model_fields:
            raise ConfigError(
                f"unknown setting '{dotted}' in {source}; allowed: {', '.join(_allowed(model))}",
                field=dotted,
            )
        annotation = model.model_fields[key].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not isinstance(value, Mapping):
                raise ConfigError(f"setting '{dotted}' in {source} must be a table", field=dotted)
            _check_keys(value, annotation, dotted + ".", source)


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings once: defaults < TOML file < environment < ``overrides``."""
    environ = os.environ if env is None else env
    data: dict[str, Any] = {}
    file = path or environ.get(CONFIG_ENV)
    if file:
        file_path = Path(file).expanduser()
        try:
            data = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {file_path}", field="config") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file_path} is not valid TOML: {exc}", field="config") from exc
        _check_keys(data, Settings, "", str(file_path))
    env_data = _env_overrides(environ)
    _check_keys(env_data, Settings, "", "the environment (MEMORYD_* variables)")
    data = _merge(data, env_data)
    if overrides:
        _check_keys(overrides, Settings, "", "overrides")
        data = _merge(data, overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"setting '{where}': {first['msg']} (got {first.get('input')!r})", field=where
        ) from exc
