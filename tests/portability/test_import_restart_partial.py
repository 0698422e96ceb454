"""An import into a store that held memories, stopped midway by a real SIGINT, is finished by the
fix it prints (`memoryd import --restart FILE`): only what it wrote goes, never what the store
held before, even memories of the file's own users, and the file then imports whole."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from memoryd.portability.format import TYPES
from tests.portability.importing import (
    ENGINES,
    FEW_CLONES,
    count,
    engine_env,
    memories,
    memory_lines,
    memoryd,
    said,
    select,
    spawn,
    start,
    stop,
    with_history,
)


def _with_ana(whole: Path, out: Path, clones: int) -> None:
    """``whole`` with ``clones`` more memories of user ana (no agent), each with its ``ADD`` row."""
    with_history(whole, out, clones, user="ana", agent_id=None)


def _held(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every memory row of ana's, and every history row (id included) of those memories."""
    hers = select(db, "SELECT * FROM memories WHERE user_id = 'ana' ORDER BY id")
    history = select(
        db, "SELECT * FROM history WHERE memory_id IN (SELECT id FROM memories WHERE user_id = 'ana') ORDER BY id"
    )
    return hers, history


@pytest.mark.timeout(900)
# The vector index in PostgreSQL and the graph in FalkorDB; Qdrant's and Milvus's indexes delete
# through the same Protocol (their conformance suite), at 20-30 s a run here.
@pytest.mark.parametrize("engine", [e for e in ENGINES if e in ("sqlite", "postgres", "falkordb-graph")])
def test_the_printed_fix_of_an_interrupted_import_keeps_what_the_store_held(
    tmp_path: Path, stores: Path, whole: Path, engine: str, run: Callable[..., Result]
) -> None:
    """With vectors or the graph in each engine: its own deletion paths remove the import's rows."""
    big = tmp_path / "big.jsonl"
    _with_ana(whole, big, FEW_CLONES)
    db = stores / "held" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db), **engine_env(engine, tmp_path)}
    for text in ("I like green tea", "My sister is called Eva", "I work night shifts"):
        added = run(env, "add", "--mode", "fast", "-u", "ana", text)
        assert added.exit_code == 0, added.stderr
    before = _held(db)
    assert len(before[0]) >= 3 and len(before[1]) >= len(before[0])
    held = memories(db)

    code, out, err = stop(start(big, env, "--json"), lambda: memories(db) > held + 20, signal.SIGINT)
    assert code == 130, err
    document = json.loads(out)
    assert document["written"]["memory"] > 0
    fix = document["finish"]
    assert fix in said(err), err  # the report prints the same fix
    # So do the refusal of the same import run again and `memoryd check`, naming --restart
    again = run(env, "import", str(big))
    assert again.exit_code == 1
    assert f"memoryd import --restart {big}" in said(again.stderr), again.stderr
    checked = run(env, "check", "--json")
    assert checked.exit_code == 1
    fixes = [p["fix"] for p in json.loads(checked.stdout)["problems"]]
    assert any("memoryd import --restart" in f for f in fixes), fixes

    finished = run(env, *memoryd(fix))  # the fix, exactly as printed
    assert finished.exit_code == 0, finished.stdout + finished.stderr
    after = _held(db)
    kept = {row[0] for row in after[0]}
    assert all(row[0] in kept for row in before[0]), "memories the store held before were deleted"
    assert [r for r in after[0] if r in before[0]] == before[0]  # unchanged, every field
    assert [r for r in after[1] if r in before[1]] == before[1]  # their history too, ids kept
    assert len(after[0]) == len(before[0]) + FEW_CLONES
    assert memories(db) == held + FEW_CLONES + memory_lines(whole)
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    # Every memory of the file has the history the file gives it, once: what the interrupted
    # import wrote went, so nothing is there twice and no DELETE stands between.
    events = select(db, "SELECT memory_id, event, count(*) FROM history WHERE user_id = 'ana' GROUP BY 1, 2")
    assert {(e, n) for _, e, n in events} == {("ADD", 1)}
    assert not select(db, "SELECT 1 FROM history WHERE actor = 'import'")



def _with_graph_and_tiers(whole: Path, out: Path, clones: int) -> None:
    """``whole`` with ``clones`` more memories of ana (as :func:`_with_ana`), as many graph entities
    of hers that no relation names, and as many segments of her hierarchy, each holding one of
    those memories' turns: written in that order, each kind after the file's own."""
    _with_ana(whole, out, clones)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    ana = [r for r in rows if r["type"] == "memory" and r["user_id"] == "ana"]
    at = "2024-07-01T10:00:00.000000+00:00"
    added: dict[str, list[dict[str, object]]] = {"entity": [], "tier_segment": [], "tier_turn": []}
    for n, memory in enumerate(ana):
        name, segment = f"place {n}", str(uuid.uuid4())
        added["entity"].append({"type": "entity", "id": str(uuid.uuid4()), "owner": ["ana", None, None],
                                "name": name, "normal": name, "entity_type": "place", "names": [[name, name]],
                                "created_at": at})  # fmt: skip
        added["tier_segment"].append({"type": "tier_segment", "id": segment, "owner": ["ana", None, None],
                                      "label": "tea", "keywords": [["tea", 1]], "turns": 1, "retrievals": 0,
                                      "created_at": at, "touched_at": at, "last_run_id": None, "tier": "mid",
                                      "promoted_at": None, "promotions": 0, "level": 0})  # fmt: skip
        added["tier_turn"].append({"type": "tier_turn", "memory_id": memory["id"], "owner": ["ana", None, None],
                                   "run_id": None, "at": at, "level": 0, "segment_id": segment,
                                   "words": ["tea"]})  # fmt: skip
    for kind, extra in added.items():
        where = [n for n, r in enumerate(rows) if r["type"] in TYPES[: TYPES.index(kind) + 1]]
        rows[max(where) + 1 : max(where) + 1] = extra
        rows[-1]["counts"][kind] += len(extra)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _graph_count(db: Path, env: dict[str, str], what: str) -> int:
    """How many of ana's place entities (``what`` "places") or of her relations ("relations")
    the store's graph holds, in SQLite or in FalkorDB."""
    graph = env.get("MEMORYD_STORAGE__FALKORDB__GRAPH")
    if graph is None:
        if what == "places":
            return count(db, "SELECT count(*) FROM graph_entities WHERE name LIKE 'place %'")
        return count(db, "SELECT count(*) FROM graph_relations WHERE user_id = 'ana'")
    from falkordb import FalkorDB

    query = {
        "places": "MATCH (e:Entity) WHERE e.name STARTS WITH 'place ' RETURN count(e)",
        "relations": "MATCH ()-[r:RELATES]->() WHERE r.user_id = 'ana' RETURN count(r)",
    }[what]
    client = FalkorDB.from_url(env["MEMORYD_STORAGE__FALKORDB__URL"])
    try:
        return int(client.select_graph(graph).query(query).result_set[0][0])
    except Exception:  # noqa: BLE001 - the graph not made yet
        return 0
    finally:
        client.connection.close()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("engine", ["sqlite", "falkordb-graph"])
def test_the_printed_fix_removes_entities_and_segments_an_interrupted_import_left_alone(
    tmp_path: Path, stores: Path, whole: Path, engine: str, run: Callable[..., Result]
) -> None:
    """Stopped while it wrote the file's graph entities (before the relations naming them), then
    its fix stopped while it wrote segments (before their turns): each fix printed removes those
    too, which no memory's deletion reaches, and the last one imports the file whole."""
    big = tmp_path / "big.jsonl"
    clones = 300  # each kind stopped 10-20 rows after the 20 the test saw: hundreds left
    _with_graph_and_tiers(whole, big, clones)
    db = stores / "held" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db), **engine_env(engine, tmp_path)}
    for text in ("I like green tea", "I work night shifts"):
        added = run(env, "add", "--mode", "fast", "-u", "ana", text)
        assert added.exit_code == 0, added.stderr
    before = _held(db)
    turns = "SELECT * FROM tier_turns WHERE memory_id IN (SELECT id FROM memories WHERE user_id = 'ana') ORDER BY seq"
    tiers = select(db, turns)
    assert tiers  # her episodes are in the hierarchy too
    base = count(db, "SELECT count(*) FROM tier_turns")
    def places() -> int:
        return _graph_count(db, env, "places")

    code, out, err = stop(start(big, env, "--json"), lambda: places() > 20, signal.SIGINT)
    assert code == 130, err
    fix = json.loads(out)["finish"]
    assert "--restart" in fix, err
    assert _graph_count(db, env, "relations") == 0

    # The fix, run as a user would (a process of its own), stopped in its turn once it has
    # written segments, no turn
    child = spawn([*memoryd(fix), "--json"], env)
    ready = "SELECT count(*) FROM segments WHERE label = 'tea'"
    code, out, err = stop(child, lambda: places() == clones and count(db, ready) > 20, signal.SIGINT)
    assert code == 130, err
    assert count(db, "SELECT count(*) FROM tier_turns") == base  # stopped before the file's turns
    fix = json.loads(out)["finish"]
    assert "--restart" in fix and fix in said(err), err

    finished = run(env, *memoryd(fix))
    assert finished.exit_code == 0, finished.stdout + finished.stderr
    after = _held(db)
    assert [r for r in after[0] if r in before[0]] == before[0]
    assert [r for r in after[1] if r in before[1]] == before[1]
    assert [r for r in select(db, turns) if r in tiers] == tiers
    assert places() == clones and count(db, ready) == clones
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr


@pytest.mark.timeout(900)
def test_the_printed_fix_keeps_the_history_of_a_memory_the_file_restores(
    tmp_path: Path, stores: Path, whole: Path, run: Callable[..., Result]
) -> None:
    """A memory deleted from the store since the file was exported, which the import restores: the
    fix deletes it again (it was the import's), and its history from before the import stays."""
    db = stores / "held" / "a.db"
    env = {"MEMORYD_STORAGE__PATH": str(db)}
    assert run(env, "add", "--mode", "fast", "-u", "ana", "I like green tea").exit_code == 0
    noted = run(env, "add", "--mode", "fast", "-u", "ana", "a note to keep for later", "--json")
    assert noted.exit_code == 0, noted.stderr
    mine = tmp_path / "mine.jsonl"
    assert run(env, "export", str(mine), "-u", "ana").exit_code == 0
    docs = [json.loads(line) for line in mine.read_text().splitlines()]
    note = next(d for d in docs if d["type"] == "memory" and d["text"] == "a note to keep for later")
    assert run(env, "delete", note["id"]).exit_code == 0
    big = tmp_path / "big.jsonl"
    _with_ana(whole, big, FEW_CLONES)
    rows = [json.loads(line) for line in big.read_text().splitlines()]
    its_history = [d for d in docs if d["type"] == "history" and d["memory_id"] == note["id"]]
    first = next(n for n, r in enumerate(rows) if r["type"] == "memory")
    rows.insert(first, note)  # the first memory the import writes
    last = max(n for n, r in enumerate(rows) if r["type"] == "history")
    rows[last + 1 : last + 1] = its_history
    rows[-1]["counts"]["memory"] += 1
    rows[-1]["counts"]["history"] += len(its_history)
    big.write_text("".join(json.dumps(r) + "\n" for r in rows))
    history = f"SELECT * FROM history WHERE memory_id = '{note['id']}' ORDER BY id"
    kept = select(db, history)
    assert [r[2] for r in kept] == ["ADD", "DELETE"]
    before = _held(db)

    code, out, err = stop(start(big, env, "--json"), lambda: memories(db) > len(before[0]) + 20, signal.SIGINT)
    assert code == 130, err
    assert count(db, f"SELECT count(*) FROM memories WHERE id = '{note['id']}'") == 1  # restored
    fix = json.loads(out)["finish"]
    assert "--restart" in fix, err

    finished = run(env, *memoryd(fix))
    assert finished.exit_code == 0, finished.stdout + finished.stderr
    assert select(db, history)[: len(kept)] == kept  # what it held, ids and all
    assert [r for r in _held(db)[0] if r in before[0]] == before[0]
    assert count(db, f"SELECT count(*) FROM memories WHERE id = '{note['id']}'") == 1  # restored again
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
