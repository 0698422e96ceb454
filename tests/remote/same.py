"""Comparing what the embedded API and the remote client return, on two equivalent stores.

The stores differ only in what each made itself: memory ids (the embedded side's are mapped to the
served side's, in text too: reasons, context lines and their tags) and the times of the writes
(any time at or after the test's start stands for "now" on both sides). Floats may differ by 1e-6.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from enum import Enum
from typing import Any

from memoryd.models import AddResult, AddResults, UpdateResult, id_tag

__all__ = ["Ids", "canon", "same"]

NOW = "<made during the test>"


class Ids:
    """The embedded store's ids (and their tags) mapped to the served store's."""

    def __init__(self, started: datetime) -> None:
        self.started = started
        self.map: dict[str, str] = {}

    def learn(self, local: Any, remote: Any) -> None:
        """Pair the ids of two results of the same write (added, derived, deleted)."""
        if isinstance(local, UpdateResult) and isinstance(remote, UpdateResult):
            self.learn(list(local.derived), list(remote.derived))
            return
        assert isinstance(local, list) and isinstance(remote, list) and len(local) == len(remote)
        for a, b in zip(local, remote, strict=True):
            if isinstance(a, AddResult) and a.id is not None and b.id is not None:
                self.map.setdefault(a.id, b.id)
                self.map.setdefault(id_tag(a.id), id_tag(b.id))

    def text(self, value: str) -> str:
        for mine, theirs in sorted(self.map.items(), key=lambda kv: -len(kv[0])):  # ids before tags
            value = value.replace(mine, theirs)
        return value


def canon(value: Any, ids: Ids | None, started: datetime) -> Any:
    """``value`` as plain data: dataclasses as dicts (an :class:`AddResult`'s ``memory``, the
    stored record, included), lists of results with their attributes, ids mapped when ``ids``."""
    if isinstance(value, datetime):
        assert value.tzinfo is not None, value
        return NOW if value >= started else value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        return ids.text(value) if ids is not None else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canon(getattr(value, f.name), ids, started) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        items = [canon(v, ids, started) for v in value]
        if isinstance(value, AddResults):
            extra = {"mode": value.mode, "llm": value.llm, "relations": value.relations}
            return {"items": items, **canon(extra, ids, started)}
        relations = getattr(value, "relations", None)  # SearchResults
        return items if relations is None else {"items": items, "relations": canon(relations, ids, started)}
    if isinstance(value, dict):
        return {canon(k, ids, started): canon(v, ids, started) for k, v in value.items()}
    return value


def _close(a: Any, b: Any, path: str) -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), (path, a, b)
        assert math.isclose(a, b, rel_tol=0, abs_tol=1e-6), (path, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (path, a, b)
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}.{i}")
    else:
        assert a == b and type(a) is type(b), (path, a, b)


def same(local: Any, remote: Any, ids: Ids) -> None:
    """Assert the embedded result and the remote one agree: items, order, every field."""
    assert type(local) is type(remote) or isinstance(remote, type(local)), (type(local), type(remote))
    _close(canon(local, ids, ids.started), canon(remote, None, ids.started), "result")
