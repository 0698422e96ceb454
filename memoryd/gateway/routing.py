"""Which upstream targets serve a requested model, and the model list clients see.

The model a client names goes through ``gateway.aliases`` first (one step).
The targets of the ``[llm]`` tiers whose model (or label) is that name are
tried first, in tier order; with ``gateway.fallback_models`` the other targets
follow, in tier order, so a model that is down falls back to the next tier's.
A name no target serves goes through every tier in order
(``gateway.unknown_model = "route"``) or is a 404 (``"reject"``); with ``"reject"``, a
request naming no model is a 400, as OpenAI's is.
"""

from __future__ import annotations

from typing import Any

from memoryd.config import GatewayConfig
from memoryd.errors import InvalidInputError, NotFoundError
from memoryd.llm.router import Router
from memoryd.llm.types import Target

__all__ = ["Route", "model_list", "route"]


class Route(list[Target]):
    """The targets to try, in order; the first ``own`` serve the model asked for (the others are
    fallbacks: other models)."""

    def __init__(self, targets: list[Target], own: int | None = None) -> None:
        super().__init__(targets)
        self.own = len(targets) if own is None else own

    @property
    def asked(self) -> frozenset[str]:
        """The labels of the targets that serve the model asked for (whose refusals are the client's)."""
        return frozenset(t.label for t in self[: self.own])


def route(router: Router, model: str | None, config: GatewayConfig) -> Route:
    """The targets to try for ``model``, in order."""
    name = config.aliases.get(model or "", model or "")
    own = [t for t in router.targets if name and name in (t.model, t.label)]
    if own:
        rest = [t for t in router.targets if t not in own] if config.fallback_models else []
        return Route(own + rest, len(own))
    if config.unknown_model == "reject":
        if not model:  # not a model that is missing here: a request that names none
            raise InvalidInputError("model is required (GET /v1/models lists the models)", field="model")
        raise NotFoundError(
            f"the model {model!r} is not served here; GET /v1/models lists the models and aliases",
            field="model",
        )
    return Route(list(router.targets))  # a model no target names: each is as much the one asked for


def model_list(router: Router | None, config: GatewayConfig) -> list[dict[str, Any]]:
    """``GET /v1/models`` entries: each model the tiers serve, then each alias."""
    out: dict[str, dict[str, Any]] = {}
    for tier_no, tier in enumerate(router.tiers if router is not None else [], start=1):
        for target in tier:
            entry = out.setdefault(
                target.model,
                {
                    "id": target.model,
                    "object": "model",
                    "created": 0,
                    "owned_by": target.provider,
                    "memoryd": {"tier": tier_no, "targets": []},
                },
            )
            entry["memoryd"]["targets"].append(target.label)
    served = set(out)
    for alias, name in sorted(config.aliases.items()):
        if alias in served:
            continue
        owner = next(
            (e["owned_by"] for e in out.values() if name in (e["id"], *e["memoryd"]["targets"])), None
        )
        out[alias] = {
            "id": alias,
            "object": "model",
            "created": 0,
            "owned_by": owner or "memoryd",
            "memoryd": {"alias_of": name},
        }
    return list(out.values())
