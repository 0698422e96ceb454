"""Who has memories: the admin listing of owners (``AsyncMemory.users``, ``GET /v1/users``).

One row per (user_id, agent_id) with its current memories by kind, when it last added one,
and the size of each of its tiers; each opens with ``tree()``. Memories of no user and no agent
(added with only a ``run_id``) have no owner and no tree: they come last, in one row marked
``session_only`` with the number of their sessions (``runs``), the newest ``run_ids`` and how to
read them (``get_all(run_id=...)``, ``GET /v1/memories?run_id=...``). Reads every memory once
(:meth:`RecordStore.scan`, which adds and deletes meanwhile do not shift): a scan, fine for an
admin listing, not for a request path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from memoryd.hierarchy.tiers import Tiers
from memoryd.models import Scope

__all__ = ["RUN_IDS_SHOWN", "SESSION_ONLY_HINT", "list_owners"]

_SCAN_PAGE = 5000
_NO_TIERS = {
    "short_term_turns": 0, "mid_term_turns": 0, "evicted_turns": 0, "segments": 0, "evicted_segments": 0,
    "promoted_segments": 0,
}  # fmt: skip
RUN_IDS_SHOWN = 100
"""The sessions the session-only row names (``run_ids``), those that added a memory last first."""
SESSION_ONLY_HINT = (
    "memories of no user and no agent, by session: read them with get_all(run_id=...) or "
    "GET /v1/memories?run_id=... (no tree: a tree needs a user_id or an agent_id)"
)


async def list_owners(records: Any, tiers: Tiers, scope: Scope) -> list[dict[str, Any]]:
    """The owners of ``scope``'s current memories (every owner when it names nobody), most
    memories first, then the session-only row (memories of no user and no agent) if any."""
    owners: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    runs: dict[str, datetime] = {}  # the session-only memories' sessions, by their newest memory
    cursor: str | None = None
    while True:
        # Oldest first by a cursor: pages by offset (newest first) counted a memory twice for each
        # add committed between two of them, and skipped one for each delete.
        page, cursor = await records.scan(scope, after=cursor, limit=_SCAN_PAGE)
        for m in page:
            if not m.is_current:
                continue
            row = owners.setdefault(
                (m.user_id, m.agent_id),
                {"user_id": m.user_id, "agent_id": m.agent_id, "memories": 0, "kinds": {}, "last": None},
            )
            row["memories"] += 1
            row["kinds"][m.kind.value] = row["kinds"].get(m.kind.value, 0) + 1
            if row["last"] is None or m.created_at > row["last"]:
                row["last"] = m.created_at
            if m.user_id is None and m.agent_id is None and m.run_id is not None:
                runs[m.run_id] = max(runs.get(m.run_id, m.created_at), m.created_at)
        if cursor is None:
            break
    session_only = owners.pop((None, None), None)
    out = sorted(owners.values(), key=lambda r: (-r["memories"], r["user_id"] or "", r["agent_id"] or ""))
    sizes = await tiers.counts()
    for row in out:
        row["last_added_at"] = row.pop("last").isoformat()
        row["tiers"] = sizes.get((row["user_id"], row["agent_id"])) or dict(_NO_TIERS)
        row["session_only"] = False
    if session_only is not None:
        session_only["last_added_at"] = session_only.pop("last").isoformat()
        session_only["tiers"] = sizes.get((None, None)) or dict(_NO_TIERS)
        newest = sorted(runs, key=lambda r: (-runs[r].timestamp(), r))
        extra = {"runs": len(runs), "run_ids": newest[:RUN_IDS_SHOWN], "hint": SESSION_ONLY_HINT}
        out.append({**session_only, "session_only": True, **extra})
    return out
