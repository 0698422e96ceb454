"""Adds of one owner take turns: which scopes share a lock."""

from __future__ import annotations

import asyncio

from memoryd.ingest.locks import OwnerLocks
from memoryd.models import Scope


async def test_every_scope_of_a_user_shares_one_lock_and_others_do_not_wait() -> None:
    locks = OwnerLocks()
    user = locks.of(Scope("ana"))
    # Fine mode reconciles a write naming only the user with the user's memories of every agent.
    assert locks.of(Scope("ana", "bot")) is user and locks.of(Scope("ana", "bot", "s1")) is user
    assert locks.of(Scope(None, "bot")) is not user  # a write naming no user never sees ana's
    assert locks.of(Scope("bo")) is not user
    assert locks.of(Scope(run_id="s1")) is not locks.of(Scope(None, "bot"))
    async with user:  # held: another user's add goes on at once
        await asyncio.wait_for(locks.of(Scope("bo", "bot")).acquire(), timeout=1)
