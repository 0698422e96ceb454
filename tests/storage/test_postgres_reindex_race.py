"""A `memoryd reindex` onto another model that starts in another process while this process
writes to a PostgreSQL vector index: the write's check of the model record and the write itself
were two transactions, and a reindex moving the index between them let a vector of the old model
into the new model's table. The check is now read FOR SHARE in the write's own transaction: here
the reindex's change is held open in a connection of its own, the write is shown waiting for it,
and once it commits the write refuses (503), nothing of it kept."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from memoryd.config import Settings, load_settings
from memoryd.errors import StorageError
from tests.storage.helpers import DIM, adds, opened, record, unit
from tests.storage.postgres_server import postgres_url, table_for

_GUARD_S = 60  # only so a hang ends the test: the write waits until the reindex side commits

META = sql.Identifier("memoryd_vector_meta")


def _settings(tmp: Path) -> Settings:
    section = {"url": postgres_url(), "table": table_for(tmp)}
    overrides = {"storage": {"path": str(tmp / "m.db"), "vectors": "postgres", "postgres": section}}
    return load_settings(env={}, overrides=overrides)


Steps = list[tuple[sql.Composed, tuple[str, ...]]]


def _new_model(table: str) -> Steps:
    """The model record rewritten for another model of the same size, as a reindex's record is
    written (``_write_meta``'s upsert) over one of the old model's."""
    return [
        (
            sql.SQL("UPDATE {} SET model = 'another-model', rebuilding = true WHERE name = %s").format(META),
            (table,),
        ),
    ]


def _dropped_and_made_again(table: str) -> Steps:
    """A reindex's drop (the record, then the table) and its table made again, the same size,
    with the new model's record: all of it in the one transaction held here."""
    t = sql.Identifier(table)
    return [
        (sql.SQL("DELETE FROM {} WHERE name = %s").format(META), (table,)),
        (sql.SQL("DROP TABLE {}").format(t), ()),
        (
            sql.SQL(
                'CREATE TABLE {} (memory_id text COLLATE "C" PRIMARY KEY, user_id text, agent_id text, '
                "run_id text, valid_to double precision, embedding vector({}) NOT NULL)"
            ).format(t, sql.Literal(DIM)),
            (),
        ),
        (
            sql.SQL(
                "INSERT INTO {} (name, model, dim, rebuilding) VALUES (%s, 'another-model', {}, true)"
            ).format(META, sql.Literal(DIM)),
            (table,),
        ),
    ]


@pytest.mark.parametrize(
    ("reindex", "refusal", "field"),
    [
        (_new_model, "was moved to embedder 'another-model' \\(8 dimensions\\)", "embedder"),
        (
            _dropped_and_made_again,
            "has no model record: it was dropped since this process opened it",
            "storage.postgres.url",
        ),
    ],
)
async def test_a_write_racing_a_reindex_waits_for_it_then_refuses(
    reindex: Callable[[str], Steps], refusal: str, field: str, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    table = table_for(tmp_path)
    before, late = record("the blue notebook is on the shelf"), record("the red pen is in the drawer")
    async with opened(settings) as server:
        await server.commit(adds((before, unit(1))))
        async with await psycopg.AsyncConnection.connect(postgres_url()) as other:  # the reindex's
            for statement, params in reindex(table):
                await other.execute(statement, params)
            write = asyncio.ensure_future(server.commit(adds((late, unit(0, 1)))))
            waiting = 0
            async with asyncio.timeout(_GUARD_S):
                while not write.done() and not waiting:
                    await asyncio.sleep(0.05)
                    async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as look:
                        rows = await (
                            await look.execute(
                                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                                (other.info.backend_pid,),
                            )
                        ).fetchall()
                    waiting = int(rows[0][0])
            outcome = (await asyncio.gather(write, return_exceptions=True))[0] if write.done() else None
            assert waiting and not write.done(), f"the write did not wait for the reindex: {outcome!r}"
            await other.commit()  # the reindex's change is in: the write reads it
        outcome = (await asyncio.gather(asyncio.wait_for(write, _GUARD_S), return_exceptions=True))[0]
        assert isinstance(outcome, StorageError), repr(outcome)
        assert outcome.status_code == 503 and outcome.field == field
        assert re.search(refusal, outcome.message), outcome.message
        assert await server.records.get_many([late.id]) == {}  # nothing of the write was kept
        async with await psycopg.AsyncConnection.connect(postgres_url()) as look:
            rows = await (
                await look.execute(sql.SQL("SELECT memory_id FROM {}").format(sql.Identifier(table)))
            ).fetchall()
        assert late.id not in {r[0] for r in rows}  # no vector of the old model among the new model's
