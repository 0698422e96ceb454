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

__all__ = ["store_health"]


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
        stats = mem.router.stats()
        targets = stats["targets"].values()
        closed = [t for t in targets if t["state"] != "open"]
        # An LLM outage never fails a write (episodes are still stored): degraded, not unavailable.
        # Before any call nothing is known (`memoryd doctor` asks it): "untested", not "ok".
        tried = any(t["calls"] or t["failures"] or t["successes"] for t in targets)
        status = ("ok" if tried else "untested") if closed else "degraded"
        checks["llm"] = {"status": status, "mode": "fine", **stats}
    return {
        "status": "ok" if ok else "unavailable",
        "checks": checks,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
    }
