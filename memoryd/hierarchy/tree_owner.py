"""Whose memory tree: the owner a ``tree`` call names, what it holds, and the 404 for nobody.

An owner is keyed as :func:`memoryd.hierarchy.owners.list_owners` lists it and as the
hierarchy keys its turns and segments: a user (``agent_id`` None: the user's memories shared by
every agent), a user's agent, or an agent alone (``user_id`` None: the agent's own memories, of
no user, as ``add(agent_id=...)`` without a user stores them). An owner with nothing stored (no
current memory, no turn, no segment) is a :class:`~memoryd.errors.NotFoundError` naming the
field to fix, not an empty tree that looks like a real one.
"""

from __future__ import annotations

from typing import Any

from memoryd.errors import InvalidInputError, NotFoundError
from memoryd.filters import And, Cond, Filter
from memoryd.hierarchy.tree import LONG_TERM_SHOWN, MAX_SHOWN, SEGMENTS_SHOWN
from memoryd.ingest.derived import owner_scope
from memoryd.ingest.inputs import check_int
from memoryd.models import MemoryRecord, Scope

__all__ = ["nobody", "owner_memories", "tree_owner"]


def tree_owner(
    user_id: str | None,
    agent_id: str | None,
    episodes: int = 0,
    *,
    long_term: int = LONG_TERM_SHOWN,
    segments: int = SEGMENTS_SHOWN,
) -> Scope:
    """The owner ``tree(user_id, agent_id=..., episodes=...)`` names: a user, a user's agent, or
    (``user_id`` None) an agent's own memories. Raises InvalidInputError naming the field (also
    for ``episodes``, the turns shown per segment and session, ``long_term``, the memories shown
    per long-term group, and ``segments``, the segments shown: each 0 to 10,000)."""
    for name, value in (("user_id", user_id), ("agent_id", agent_id)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            hint = ", or None for an agent's own memories (no user)" if name == "user_id" else ""
            raise InvalidInputError(f"{name} must be a non-empty string{hint}", field=name)
    if user_id is None and agent_id is None:
        message = (
            "a tree needs a user_id, or an agent_id for an agent's own memories (no user); memories of"
            " no user and no agent (users() lists them as session_only) are read by session:"
            " get_all(run_id=...), GET /v1/memories?run_id=..."
        )
        raise InvalidInputError(message, field="user_id")
    check_int("episodes", episodes, 0, 10_000)
    check_int("long_term", long_term, 0, MAX_SHOWN)
    check_int("segments", segments, 0, MAX_SHOWN)
    return Scope(user_id, agent_id, None)


def _only(owner: Scope) -> Filter | None:
    """The memories of exactly ``owner`` among its scope's: no user (an agent alone), no agent
    (a user's shared ones)."""
    conds = [Cond(name, "eq", None) for name in ("user_id", "agent_id") if getattr(owner, name) is None]
    return None if not conds else conds[0] if len(conds) == 1 else And(tuple(conds))


async def owner_memories(records: Any, owner: Scope) -> list[MemoryRecord]:
    """Every current memory of exactly ``owner`` (every session's), newest first. Their ids are
    read in one statement: pages read by offset while adds or deletes committed between them
    listed some memories twice and skipped others."""
    ids = await records.select_ids(owner, _only(owner))
    found = (await records.get_many(ids, shared=True)).values()
    # a memory superseded since its id was read is no longer current
    mine = [m for m in found if m.is_current and owner_scope(m.scope) == owner]
    return sorted(mine, key=lambda m: (m.created_at, m.id), reverse=True)


async def _holds(records: Any, store: Any, scope: Scope) -> bool:
    """Whether anything is stored under ``scope`` (any of its agents and sessions)."""
    if (await records.page(scope, None, limit=1, offset=0)).items:
        return True
    return store is not None and bool((await store.scan_turns(scope, limit=1))[0])


async def nobody(records: Any, store: Any, owner: Scope) -> NotFoundError:
    """The 404 for an owner with nothing stored, naming the field to change: ``user_id`` for a
    user with nothing at all, else ``agent_id`` (an agent of no memories, or a user whose
    memories are all with agents: the tree of one of those names it)."""
    user, agent = owner.user_id, owner.agent_id
    hint = "users() and GET /v1/users list every owner"
    if user is None:
        message = f"no memories or turns of agent {agent!r} without a user; {hint}"
        return NotFoundError(message, field="agent_id")
    if not await _holds(records, store, Scope(user_id=user)):
        return NotFoundError(f"no memories or turns of user {user!r}; {hint}", field="user_id")
    if agent is None:
        message = f"user {user!r} has memories only with agents: name one ({hint})"
    else:
        message = f"user {user!r} has no memories or turns with agent {agent!r}; {hint}"
    return NotFoundError(message, field="agent_id")
