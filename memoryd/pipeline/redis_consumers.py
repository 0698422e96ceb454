"""The consumer group's members, against its live workers (part of the Redis backend).

Redis keeps a consumer in the group until someone deletes it (``XGROUP DELCONSUMER``): a worker
that leaves deletes its own (:meth:`RedisQueue.leave`), and one that is killed (SIGKILL, a lost
machine) leaves it there for ever. :func:`prune` deletes such dead consumers, in one script so that
nothing is read or claimed between the check and the deletion: a consumer that still holds pending
entries is never deleted (deleting it would drop them from the group: no worker would ever get
them again); live workers reclaim those first (``XAUTOCLAIM``), after ``claim_idle_ms``.
"""

from __future__ import annotations

import logging
from typing import Any

from memoryd.pipeline.keys import Keys
from memoryd.wording import counted

__all__ = ["PRUNE", "dead", "prune", "worker_problems"]

log = logging.getLogger("memoryd.pipeline")

# Delete the group's consumers that hold no pending entry, have been idle min_idle_ms or longer,
# and have no live heartbeat (under their group and name, or, an older memoryd's, their bare
# name), on Redis's clock. KEYS: stream, workers. ARGV: group, min_idle_ms.
# Returns the names deleted; a group that is gone from a stream that is there (Redis lost it) is
# Redis's NOGROUP error, so that the caller recreates the group (RedisQueue._grouped); no stream, no
# names. A plain script (no flags): XGROUP DELCONSUMER frees memory, and Redis allows it when full.
PRUNE = """
local members = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if type(members) == 'table' and members.err and string.sub(members.err, 1, 7) == 'NOGROUP' then
  return redis.error_reply(members.err)
end
if type(members) ~= 'table' or members.err then return {} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function alive(member)
  local until_ms = redis.call('ZSCORE', KEYS[2], member)
  return until_ms and tonumber(until_ms) >= now
end
local gone = {}
for _, member in ipairs(members) do
  local f = {}
  for i = 1, #member, 2 do f[member[i]] = member[i + 1] end
  if tonumber(f['pending']) == 0 and tonumber(f['idle']) >= tonumber(ARGV[2])
      and not alive(ARGV[1] .. '\\31' .. f['name']) and not alive(f['name']) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    gone[#gone + 1] = f['name']
  end
end
return gone
"""


async def prune(client: Any, keys: Keys, group: str, min_idle_ms: int) -> list[str]:
    """Delete the dead consumers of ``group`` (see :data:`PRUNE`); their names, logged."""
    gone = [str(name) for name in await client.eval(PRUNE, 2, keys.stream, keys.workers, group, min_idle_ms)]
    if gone:
        shown = ", ".join(gone[:10]) + (f" and {len(gone) - 10} more" if len(gone) > 10 else "")
        log.info(
            "async pipeline: removed %s from group %s (no pending entries, no heartbeat, "
            "idle %d ms or more): %s",
            counted(len(gone), "dead consumer", "dead consumers"), group, min_idle_ms, shown,
        )  # fmt: skip
    return gone


def dead(members: Any, group: str, alive: list[str]) -> int:
    """How many of the group's consumers (an ``XINFO CONSUMERS`` reply; an error: none) have no live
    worker (``alive``: the members of live heartbeats, ``group\\x1fname`` or a bare name)."""
    if not isinstance(members, list):
        return 0
    live = set(alive)
    names = [str(m.get("name")) for m in members if isinstance(m, dict)]
    return sum(1 for name in names if f"{group}\x1f{name}" not in live and name not in live)


def worker_problems(workers: list[dict[str, Any]]) -> list[str]:
    """What the live workers' heartbeats say is wrong, one line each: a store that refuses their
    adds, a worker whose steps on Redis keep failing (``retrying``, past ``STALLED_AFTER_S``).
    ``/health`` and ``memoryd worker --check`` both count them as degraded."""
    out = [
        f"worker {w.get('consumer')}: the store does not take its adds ({w['store_error']}); its "
        "events wait (no attempt used up) until it does"
        for w in workers
        if w.get("store_error")
    ]
    out.extend(  # Redis answers its heartbeats, not its steps
        f"worker {w.get('consumer')}: retrying since {w.get('failing_since')}, processing nothing: "
        f"{w.get('error')}"
        for w in workers
        if w.get("state") == "retrying"
    )
    return out
