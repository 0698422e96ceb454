"""An error as the caller of one request may read it: the server's file paths for admins only.

A store's errors name its file (``cannot open storage.path /srv/memoryd/tenants/acme/memoryd.db:
...``, ``the vector index of /srv/... is missing``): what the operator who fixes it needs, and what
``/health`` gives an admin key alone. An HTTP error goes to whoever called, a user or service key
too, so for a caller that is no admin every path of the server's files (the store, its ``-wal``,
the key store, the tenants' folders, another backend's local folder) is said as "the store"
("tenant acme's store" for a tenant's); the server's log and admin callers keep the path, and the
CLI, which runs on the file itself, is not concerned.

A repair command a store's error names (``details.repair``, and the same command in the message)
repairs the default tenant's store; for a tenant's store it names ``--tenant NAME``, whoever asks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from starlette.types import Scope

from memoryd.config import DEFAULT_TENANT
from memoryd.errors import MemorydError
from memoryd.maintenance.commands import is_store_command, respell

__all__ = ["shown_to", "shown_tool_errors"]

_TAIL = r"[^\s:;,'\"()`]*"  # the rest of a path under a known folder: a tenant's file, a -wal


def shown_to(exc: MemorydError, scope: Scope | None) -> tuple[str, dict[str, Any] | None]:
    """``exc``'s message and ``details`` as the caller of the request ``scope`` reads them."""
    message, details = exc.message, exc.to_dict().get("details")
    if scope is None:
        return message, details
    principal = scope.get("state", {}).get("principal")
    tenant = getattr(principal, "tenant", DEFAULT_TENANT)
    if tenant != DEFAULT_TENANT:
        message, details = _with_tenant(message, tenant), _with_tenant(details, tenant)
    if principal is not None and principal.is_admin:
        return message, details
    paths = _paths_pattern(scope, tenant)
    if paths is None:
        return message, details
    store = "the store" if tenant == DEFAULT_TENANT else f"tenant {tenant}'s store"
    return _redacted(message, paths, store), _redacted(details, paths, store)


def shown_tool_errors(answer: Any, scope: Scope) -> Any:
    """An MCP answer (a message, or a batch's list) whose tool errors (``isError`` results: the
    text of a :class:`MemorydError`, its details as JSON) the caller of ``scope`` reads as
    :func:`shown_to` says; anything else, a tool's result, as it is."""
    if isinstance(answer, list):
        return [shown_tool_errors(one, scope) for one in answer]
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, dict) or result.get("isError") is not True:
        return answer
    content = [
        {**item, "text": _shown_text(item["text"], scope)}
        if isinstance(item, dict) and isinstance(item.get("text"), str)
        else item
        for item in result.get("content", [])
    ]
    return {**answer, "result": {**result, "content": content}}


def _shown_text(text: str, scope: Scope) -> str:
    shown, _ = shown_to(MemorydError(text), scope)
    return shown


def _with_tenant(value: Any, tenant: str) -> Any:
    """``value`` (a message, or details) with each repair command naming ``--tenant tenant``."""
    if isinstance(value, str):
        if is_store_command(value):  # a details.repair
            return _tenant_of(value, tenant)
        return respell(value, lambda command: _tenant_of(command, tenant))
    if isinstance(value, dict):
        return {k: _with_tenant(v, tenant) if k == "repair" else v for k, v in value.items()}
    return value


def _tenant_of(command: str, tenant: str) -> str:
    return command if "--tenant" in command.split() else f"{command} --tenant {tenant}"


def _redacted(value: Any, paths: re.Pattern[str], store: str) -> Any:
    if isinstance(value, str):
        return paths.sub(lambda m: _said(m, store), value)
    if isinstance(value, dict):
        return {k: _redacted(v, paths, store) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, paths, store) for v in value]
    return value


def _said(found: re.Match[str], store: str) -> str:
    """What a path is said as, by the words before it."""
    lead = (found.group("lead") or "").strip()
    if lead in ("storage.path", "the store at", "the store"):
        return store
    if lead in ("the store's file", "the API key store"):
        return lead
    if lead in ("of", "in", "at"):
        return f"{lead} {store}"
    return "a file of the server's"


def _paths_pattern(scope: Scope, tenant: str) -> re.Pattern[str] | None:
    """The server's file paths (and the words that lead one), or None if no settings are known."""
    state = getattr(getattr(scope.get("app"), "state", None), "memoryd", None)
    settings = getattr(state, "settings", None)
    if settings is None:
        return None
    known: set[str] = set()
    for path in _files(settings, tenant):
        known.add(str(path))
        full = Path(os.path.abspath(path))
        known.add(str(full))
        if len(full.parent.parts) > 1:  # its folder (its -wal, keys.db, tenants/...), not "/"
            known.add(str(full.parent))
    known = {k for k in known if k not in ("", ".")}
    alternatives = "|".join(re.escape(k) for k in sorted(known, key=len, reverse=True))
    leads = r"storage\.path|the store's file|the store at|the store|the API key store|of|in|at"
    return re.compile(rf"(?:(?P<lead>\b(?:{leads}))\s+)?(?<![\w/.-])(?:{alternatives}){_TAIL}")


def _files(settings: Any, tenant: str) -> Iterator[Path]:
    yield settings.storage.path
    yield settings.keys_path()
    yield settings.tenants_dir()
    yield from _model_paths(settings.storage)
    if tenant != DEFAULT_TENANT:
        try:
            own = settings.for_tenant(tenant)
        except MemorydError:  # its folder cannot be told: the root's paths above cover it
            return
        yield own.storage.path
        yield from _model_paths(own.storage)


def _model_paths(model: BaseModel) -> Iterator[Path]:
    """The paths a settings model (and those in it) holds: a local backend's file or folder."""
    for name in type(model).model_fields:
        value = getattr(model, name, None)
        if isinstance(value, Path):
            yield value
        elif isinstance(value, BaseModel):
            yield from _model_paths(value)
