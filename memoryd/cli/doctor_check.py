"""The record every ``memoryd doctor`` check returns (:mod:`memoryd.cli.doctor`,
:mod:`memoryd.cli.doctor_services`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Check", "Status"]

Status = Literal["ok", "info", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    status: Status
    detail: str
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix, **self.data}
