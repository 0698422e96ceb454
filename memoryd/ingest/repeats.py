"""Fine mode: a turn said again word for word (fast mode's NOOP of it as an episode) whose facts
have ended since it was first said ("I live in London." again after a move to Paris).

The episode stays a NOOP; what it states is extracted again, as if new, when a fact, preference or
profile entry drawn from it earlier was ended (superseded or found no longer true) no later than it
is said again: the user's word says it may hold again. A turn whose facts all hold still is not
sent to the model again (no LLM call for a repeat that changes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from memoryd.filters import And, Cond, Filter, Not
from memoryd.ingest.derived import agent_view, owner_scope
from memoryd.ingest.fast import SaidAgain
from memoryd.models import MemoryKind, Scope
from memoryd.storage import Storage

__all__ = ["said_after_an_end"]

_DRAWN = Cond("kind", "in", [MemoryKind.FACT.value, MemoryKind.PREFERENCE.value, MemoryKind.PROFILE.value])
_ENDED = Not(Cond("valid_to", "eq", None))
_NO_USER = Cond("user_id", "eq", None)
_CAP = 20_000  # ended memories looked at, the most recently updated (ended) first


async def said_after_an_end(storage: Storage, scope: Scope, again: Sequence[SaidAgain]) -> list[SaidAgain]:
    """Those of ``again`` (the turns of an add in ``scope`` said again) that are a source of a
    memory the write's reconciliation sees (:func:`agent_view`) that ended no later than the
    turn is said again."""
    if not again:
        return []
    owner = owner_scope(scope)
    view: Filter = _NO_USER
    if owner.user_id is not None:
        owner, view = agent_view(owner.user_id, owner.agent_id)
    where = And((_DRAWN, _ENDED, view))
    ids = await storage.records.select_ids(owner, where, include_expired=True, cap=_CAP)
    if not ids:
        return []
    ended: dict[str, list[datetime]] = {}
    for m in (await storage.records.get_many(ids, shared=True)).values():  # read only: no copies
        if m.valid_to is None:
            continue
        for source in m.source_ids:
            ended.setdefault(source, []).append(m.valid_to)
    return [a for a in again if any(end <= a.turn.valid_from for end in ended.get(a.turn.id, ()))]
