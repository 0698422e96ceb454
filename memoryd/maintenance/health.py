"""A store's dependencies, as ``/health`` and ``memoryd doctor`` report them.

Each engine outside this process is asked, not assumed: the record store's counts, the vector
index (it holds vectors when the records hold memories), and a graph in another engine
(FalkorDB) answering a ping. A store that fails one of them is ``unavailable``: the server's
readiness says so rather than pass requests to an engine that is down. The embedder and the LLM
are reported as they are known here (an LLM outage degrades fine mode; it never fails a write).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from memoryd.errors import MemorydError

if TYPE_CHECKING:
    from memoryd.memory import AsyncMemory

__all__ = ["llm_check", "store_health"]


async def store_health(mem: AsyncMemory) -> dict[str, Any]:
    """Each dependency's state (``status`` ``ok`` or ``unavailable``, ``checks``, ``elapsed_ms``)."""
    checks: dict[str, Any] = {}
    ok = True
    started = time.perf_counter()
    storage, config = mem.storage, mem.settings.storage
    try:
        await mem.open()
        stats = await storage.records.stats()
        await storage.check_vectors(int(stats.get("memories", 0)))
        if storage.graph.outside_transaction:
            await storage.graph.ping()
        roles = ("records", "vectors", "keywords", "graph", "segments")
        backends = {role: getattr(config, role) for role in roles}
        checks["storage"] = {"status": "ok", **stats, "backends": backends}
    except MemorydError as exc:
        ok = False
        checks["storage"] = {"status": "error", "error": exc.message}
    emb = mem.loaded_embedder
    checks["embedder"] = (
        {"status": "ok", "model": emb.name, "dim": emb.dim}
        if emb is not None
        else {"status": "not loaded", "provider": mem.settings.embedder.provider}
    )
    if mem.router is None:
        checks["llm"] = {"status": "not configured", "mode": "fast"}
    else:
        checks["llm"] = llm_check(mem.router.stats())
    return {
        "status": "ok" if ok else "unavailable",
        "checks": checks,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
    }


_FALLS_BACK = (
    "fine-mode adds are stored as in fast mode (episodes and the rules' memories) until a call succeeds"
)


def llm_check(stats: dict[str, Any]) -> dict[str, Any]:
    """The LLM's part of the report, from the router's ``stats()``: ``untested`` before any call,
    ``ok`` while its last calls work, ``degraded`` (with a ``reason``) when every circuit is open or
    when no target's last call succeeded: failures the breaker has not counted up to its limit yet,
    or answers that keep being unusable (prose for JSON, refusals, empty), which never open it.
    An LLM outage never fails a write (episodes are still stored): degraded, not unavailable."""
    targets = list(stats["targets"].values())
    check: dict[str, Any] = {"status": "ok", "mode": "fine", **stats}
    if all(t["state"] == "open" for t in targets):
        check["status"] = "degraded"
        check["reason"] = f"every LLM target's circuit is open; {_FALLS_BACK}"
    elif not any(t["calls"] or t["failures"] or t["successes"] for t in targets):
        check["status"] = "untested"  # nothing is known before a call (`memoryd doctor` asks it)
    elif not any(t["successes"] and not t["since_success"] for t in targets):
        failing = [t for t in targets if t["since_success"]]
        if failing:
            last = max(failing, key=lambda t: t["last_error_at"] or 0.0)
            wrong = sum(t["since_success"] for t in failing)
            unusable = sum(t["unusable_since_success"] for t in failing)
            what = (
                ("gave unusable answers" if wrong > 1 else "gave an unusable answer") if unusable == wrong
                else "failed" if not unusable
                else f"failed or gave unusable answers ({unusable} unusable)"
            )
            calls = f"last {wrong} LLM calls" if wrong > 1 else "last LLM call"
            worked = any(t["successes"] for t in targets)
            since = "with no success since" if worked else "and none has succeeded"
            check["status"] = "degraded"
            check["reason"] = f"the {calls} {what} {since} (last error: {last['last_error']}); {_FALLS_BACK}"
    if check["status"] == "degraded":
        errors = [t for t in targets if t["last_error"]]
        if errors:
            check["last_error"] = max(errors, key=lambda t: t["last_error_at"] or 0.0)["last_error"]
    return check
