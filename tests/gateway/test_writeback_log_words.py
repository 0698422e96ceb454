"""The write-back's log lines said "1 turn(s) ... 1 attempt(s)"; a count now reads in the singular
for one and the plural otherwise ("1 turn ... 1 attempt", "2 write-back turns")."""

from __future__ import annotations

import logging

import pytest

from memoryd import AsyncMemory
from memoryd.gateway.writeback import Turn, WriteBack


async def test_a_dropped_turn_is_logged_in_the_singular(
    amem: AsyncMemory, caplog: pytest.LogCaptureFixture
) -> None:
    wb = WriteBack(amem.settings.limits, concurrency=1)
    with caplog.at_level(logging.WARNING, logger="memoryd.gateway"):
        wb.schedule(amem, None, Turn("ana", "s1", "\x00", "an answer to nothing", "m"))  # the store refuses it
        await wb.drain()
    assert wb.counts["failed"] == 1
    said = [r.getMessage() for r in caplog.records if "dropped after" in r.getMessage()]
    assert len(said) == 1, caplog.text
    assert said[0].startswith("gateway write-back of 1 turn for user 'ana' dropped after 1 attempt: "), said
    assert "(s)" not in said[0]
