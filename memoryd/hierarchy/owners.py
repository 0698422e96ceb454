"""Who has memories: the admin listing of owners (``AsyncMemory.users``, ``GET /v1/users``).

One row per (user_id, agent_id) with its current memories by kind, when it last added one,
and the size of each of its tiers. Reads every memory once (:meth:`RecordStore.scan`, which adds
and deletes meanwhile do not shift): a scan, fine for an admin listing, not for a request path.
"""

from __future__ import annotations

from typing import Any

from memoryd.hierarchy.tiers import Tiers
from memoryd.models import Scope

__all__ = ["list_owners"]

_SCAN_PAGE = 5000
_NO_TIERS = {
    "short_term_turns": 0, "mid_term_turns": 0, "evicted_turns": 0, "segments": 0, "evicted_segments": 0,
    "promoted_segments": 0,
}  # fmt: skip


async def list_owners(records: Any, tiers: Tiers, scope: Scope) -> list[dict[str, Any]]:
    """The owners of ``scope``'s current memories (every owner when it names nobody), most
    memories first."""
    owners: dict[tuple[str | None, str | None], dict[str, Any]] = {}
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
        if cursor is None:
            break
    out = sorted(owners.values(), key=lambda r: (-r["memories"], r["user_id"] or "", r["agent_id"] or ""))
    sizes = await tiers.counts()
    for row in out:
        row["last_added_at"] = row.pop("last").isoformat()
        row["tiers"] = sizes.get((row["user_id"], row["agent_id"])) or dict(_NO_TIERS)
    return out
