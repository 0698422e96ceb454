"""What ``memoryd check`` asks of the memory hierarchy's two tables (``tier_turns``, ``segments``).

Each check is one statement (so one consistent read while others write): how many rows break
a rule every write keeps, and one of them as an example. A turn's memory is checked against the
records through the Protocol (:func:`memoryd.maintenance.check.check_store`), not here. A turn
is in one place at most (``memory_id`` is unique): no check for that.
"""

from __future__ import annotations

import sqlite3

from memoryd.storage.sqlite.database import broken_rules

__all__ = ["check"]

_HELD = "(SELECT count(*) FROM tier_turns t WHERE t.segment_id = s.id)"

_CHECKS = (
    (
        "turns in a segment that does not exist",
        "SELECT count(*), min(t.memory_id) FROM tier_turns t WHERE t.segment_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM segments s WHERE s.id = t.segment_id)",
    ),
    (
        "segments that hold no turns",
        f"SELECT count(*), min(s.id) FROM segments s WHERE {_HELD} = 0",
    ),
    (
        "segments whose turn count disagrees with the turns they hold",
        f"SELECT count(*), min(s.id) FROM segments s WHERE {_HELD} NOT IN (0, s.turns)",
    ),
    (
        "turns in a segment of another owner",
        "SELECT count(*), min(t.memory_id) FROM tier_turns t JOIN segments s ON s.id = t.segment_id "
        "WHERE s.owner != t.owner",
    ),
    (
        "short-term turns without a vector",
        "SELECT count(*), min(memory_id) FROM tier_turns WHERE segment_id IS NULL AND vector IS NULL",
    ),
)


def check(conn: sqlite3.Connection) -> list[str]:
    """One line per rule broken: ``"2 hierarchy segments that hold no turns (e.g. <id>)"``."""
    return broken_rules(conn, _CHECKS, "hierarchy")
