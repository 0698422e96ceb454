"""References that dangle: an export is refused, by line, before anything is written, when a line
names what the file does not hold (the store would import damaged: `memoryd check` would say so);
every file `memoryd export` writes still imports, into a store that checks clean, however much
was deleted, ended, promoted or evicted before it was written."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from memoryd import AsyncMemory, InvalidInputError, Settings
from memoryd.embedders.use import USEEmbedder
from memoryd.graph.models import RelationDraft
from memoryd.maintenance.check import check_store
from memoryd.models import Scope, utcnow
from memoryd.portability import export_store, import_store
from memoryd.storage import ChangeSet, SegmentStore
from tests.fakes.llm_server import FakeLLMServer
from tests.hierarchy.conftest import TOPICS, Clock, chat
from tests.portability.conftest import fill, lines, store_settings

Doc = dict[str, Any]
Cli = Callable[..., Result]
TIERS: dict[str, Any] = {
    "short_term_turns": 2,
    "short_term_sessions": 2,
    "mid_term_segments": 2,
    "promote_heat": 2.4,
}


async def _varied(tmp_path: Path, fake_llm_server: FakeLLMServer, embedder: USEEmbedder) -> Settings:
    """tests/portability's store (graph, an ended relation, a superseded fact, a deleted memory)
    with a relation two memories assert, then a memory hierarchy with mid-term, evicted and promoted segments, a turn deleted out of
    a segment, an episode deleted whose relation goes with it (and whose fact keeps naming it
    in its source_ids), a session deleted and a user forgotten."""
    fake_llm_server.reset()
    source = await fill(tmp_path, fake_llm_server.script("default"), embedder)
    settings = store_settings(Path(source.storage.path), tiers=TIERS)
    clock = Clock(utcnow())
    async with AsyncMemory(settings, embedder=embedder, clock=clock) as mem:
        alices, _ = await mem.storage.records.scan(Scope("alice"), limit=100)
        [moved] = [m for m in alices if m.text == "I moved to Berlin."]
        again = RelationDraft(source="Alice", relation="lives in", target="Berlin", memory_id=moved.id,
                              scope=moved.scope)  # fmt: skip
        await mem.storage.commit(ChangeSet(graph_add=[again]))  # a relation two memories assert
        said: dict[str, list[str]] = {}
        for topic, run_id in (("hiking", "s1"), ("cat", "s2"), ("work", "s3")):
            said[topic] = await chat(mem, TOPICS[topic], run_id=run_id)
            clock.advance(hours=12)
        await chat(mem, TOPICS["cooking"][:3], run_id="s1")
        await chat(mem, TOPICS["cat"][:2], user_id="ben", run_id="b1")
        await chat(mem, TOPICS["work"][:3], user_id="ben", run_id="b2")
        await chat(mem, TOPICS["hiking"], user_id="dave", run_id="d1")
        await mem.search("Miso the cat", user_id="ana")  # heat: a segment is promoted
        await mem.search("data pipelines", user_id="ben")
        await mem.delete(said["cat"][1])  # out of its segment, which is recounted
        bobs, _ = await mem.storage.records.scan(Scope("bob", "helper"), limit=100)
        [episode] = [m for m in bobs if m.kind == "episode"]
        await mem.delete(episode.id)  # its relation ("drives") goes; "Bob works at Acme" names it still
        await mem.delete_all(user_id="ben", run_id="b1")  # a session: DELETEs in the history
        await mem.delete_user("dave")  # a user: no trace left
    return settings


@pytest.fixture(scope="module")
def varied(
    tmp_path_factory: pytest.TempPathFactory, fake_llm_server: FakeLLMServer, embedder: USEEmbedder
) -> tuple[Settings, Path]:
    """The varied store (built once for the module) and its export."""
    tmp = tmp_path_factory.mktemp("varied")

    async def build() -> tuple[Settings, Path]:
        settings = await _varied(tmp, fake_llm_server, embedder)
        out = tmp / "all.jsonl"
        async with AsyncMemory(settings, embedder=embedder) as mem:
            await export_store(mem, out)
        return settings, out

    return asyncio.run(build())


def _docs(path: Path) -> list[Doc]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, docs: list[Doc]) -> Path:
    """The lines, the end line counting them as they are now."""
    body = [d for d in docs if d["type"] != "end"]
    counts = {t: sum(d["type"] == t for d in body) for t in docs[-1]["counts"]}
    path.write_text("".join(json.dumps(d) + "\n" for d in [*body, {"type": "end", "counts": counts}]))
    return path


def _target(path: Path) -> Settings:
    return store_settings(path, tiers=TIERS)


def _tiers(mem: AsyncMemory) -> SegmentStore:
    assert mem.storage.segments is not None
    return mem.storage.segments


async def test_every_export_of_a_varied_store_imports_into_a_sound_store(
    varied: tuple[Settings, Path], tmp_path: Path, embedder: USEEmbedder
) -> None:
    source, out = varied
    assert (await check_store(source, embedder=embedder)).ok
    docs = _docs(out)
    memories = {d["id"]: d for d in docs if d["type"] == "memory"}
    # what the file legitimately names without holding it
    gone = {d["memory_id"] for d in docs if d["type"] == "history" and d["event"] == "DELETE"}
    assert gone and not gone & set(memories)  # deleted memories' history, with its DELETE
    assert any(s not in memories for m in memories.values() for s in m["source_ids"])  # a deleted turn
    relations = [d for d in docs if d["type"] == "relation"]
    assert any(r["valid_to"] for r in relations) and "drives" not in {r["relation"] for r in relations}
    segments = [d for d in docs if d["type"] == "tier_segment"]
    assert {s["tier"] for s in segments} == {"mid", "evicted"} and any(s["promoted_at"] for s in segments)
    assert not any(d.get("user_id") == "dave" or d.get("owner", [None])[0] == "dave" for d in docs)

    target = _target(tmp_path / "copy.db")
    async with AsyncMemory(target, embedder=embedder) as mem:
        done = await import_store(mem, out)
        again = tmp_path / "again.jsonl"
        await export_store(mem, again)
    assert done.counts == docs[-1]["counts"]
    report = await check_store(target, embedder=embedder)
    assert report.ok, report.problems
    assert lines(again) == lines(out)
    for user in ("ana", "alice", "bob", "ben"):  # one user at a time, each into a new store
        one = tmp_path / f"{user}.jsonl"
        async with AsyncMemory(source, embedder=embedder) as mem:
            await export_store(mem, one, user_id=user)
        into = _target(tmp_path / f"{user}.db")
        async with AsyncMemory(into, embedder=embedder) as mem:
            await import_store(mem, one)
        report = await check_store(into, embedder=embedder)
        assert report.ok, (user, report.problems)


async def test_what_an_unreadable_memory_takes_with_it_is_left_out_of_the_export(
    varied: tuple[Settings, Path], tmp_path: Path, embedder: USEEmbedder
) -> None:
    """--skip-unreadable: the graph's assertions of a memory left out go with it, and the segments
    that held its turn count what is left (or go): the file imports into a store that checks clean."""
    damaged = tmp_path / "damaged.db"
    src, dst = sqlite3.connect(varied[0].storage.path), sqlite3.connect(damaged)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    docs = _docs(varied[1])
    acme = next(r for r in docs if r["type"] == "relation" and r["relation"] == "works_at")
    berlin = next(r for r in docs if r["type"] == "relation" and len(r["mentions"]) == 2)
    segments = {d["id"]: d for d in docs if d["type"] == "tier_segment"}
    held = [t for t in docs if t["type"] == "tier_turn" and t["segment_id"] is not None]
    alone = next(t for t in held if segments[t["segment_id"]]["turns"] == 1)  # its segment goes
    shared = next(t for t in held if segments[t["segment_id"]]["turns"] > 1)  # its segment counts one less
    unreadable = [acme["memory_id"], berlin["memory_id"], alone["memory_id"], shared["memory_id"]]
    conn = sqlite3.connect(damaged)
    with conn:  # as a newer memoryd would write them
        conn.executemany("UPDATE memories SET kind = 'insight' WHERE id = ?", [(i,) for i in unreadable])
    conn.close()
    out = tmp_path / "rest.jsonl"
    async with AsyncMemory(_target(damaged), embedder=embedder) as mem:
        summary = await export_store(mem, out, skip_unreadable=True)
    assert sorted(summary.unreadable) == sorted(unreadable)
    rest = _docs(out)
    relations = {d["id"]: d for d in rest if d["type"] == "relation"}
    assert acme["id"] not in relations  # only the memory left out asserted it
    [still] = berlin["mentions"][1:]  # the other memory asserting it is now the relation's memory
    assert relations[berlin["id"]]["mentions"] == [still]
    assert (relations[berlin["id"]]["memory_id"], relations[berlin["id"]]["run_id"]) == (
        still["memory_id"], still["run_id"]
    )
    kept = {d["id"]: d for d in rest if d["type"] == "tier_segment"}
    assert alone["segment_id"] not in kept
    assert kept[shared["segment_id"]]["turns"] == segments[shared["segment_id"]]["turns"] - 1
    target = _target(tmp_path / "rest.db")
    async with AsyncMemory(target, embedder=embedder) as mem:
        await import_store(mem, out)
    report = await check_store(target, embedder=embedder)
    assert report.ok, report.problems


# -- each kind of dangling reference, by hand-editing the export ------------------------------
# An edit changes the docs in place and returns the index of the line that must be named (the
# header is line 1) and what the error must say after "line N: ".
Edit = Callable[[list[Doc]], tuple[int, str]]


def _at(docs: list[Doc], kind: str, where: Callable[[Doc], bool] = lambda d: True) -> int:
    return next(i for i, d in enumerate(docs) if d["type"] == kind and where(d))


def _ids(docs: list[Doc], kind: str = "memory") -> set[str]:
    return {d["id"] for d in docs if d["type"] == kind}


def _history_of_no_memory(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "history", lambda d: d["memory_id"] in _ids(docs))
    docs[i]["memory_id"] = "no-such-memory"
    return i, "history of memory 'no-such-memory', which the file neither holds nor records as deleted"


def _deleted_without_its_delete(docs: list[Doc]) -> tuple[int, str]:
    """A memory deleted before the export, its DELETE cut out: its other rows name nothing."""
    gone = docs[_at(docs, "history", lambda d: d["event"] == "DELETE")]["memory_id"]
    docs[:] = [d for d in docs if not (d.get("memory_id") == gone and d.get("event") == "DELETE")]
    return _at(docs, "history", lambda d: d["memory_id"] == gone), f"history of memory {gone!r}, which"


def _relation_nobody_asserts(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "relation")
    docs[i]["mentions"] = []
    return i, f"relation {docs[i]['id']!r} is asserted by no memory"


def _relation_of_a_memory_not_held(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "relation")
    docs[i]["mentions"].append({"memory_id": "no-such-memory", "run_id": None, "valid_to": None})
    return i, "is asserted by memory 'no-such-memory', which the file does not hold"


def _relation_of_a_memory_not_asserting_it(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "relation")
    other = next(m for m in sorted(_ids(docs)) if m not in {x["memory_id"] for x in docs[i]["mentions"]})
    docs[i]["memory_id"] = other
    return i, f"names memory {other!r}, which is not among those asserting it"


def _relation_to_no_entity(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "relation")
    docs[i]["target_id"] = "no-such-entity"
    return i, r"names an entity the file does not hold \('no-such-entity'\)"


def _relation_to_another_owners_entity(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "relation", lambda d: d["user_id"] == "alice")
    bobs = docs[_at(docs, "entity", lambda d: d["owner"][0] == "bob")]["id"]
    docs[i]["target_id"] = bobs
    return i, rf"of user 'alice' names entity {bobs!r} of user 'bob', agent 'helper'"


def _entity_without_its_own_name(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "entity")
    docs[i]["normal"] = "nobody"
    return i, "is not among its own names"


def _turn_of_no_memory(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "tier_turn")
    docs[i]["memory_id"] = "no-such-memory"
    return i, "hierarchy turn of memory 'no-such-memory': the file does not hold that memory"


def _turn_of_a_fact(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "tier_turn")
    fact = docs[_at(docs, "memory", lambda d: d["kind"] == "fact")]["id"]
    docs[i]["memory_id"] = fact
    return i, "that memory is not an episode"


def _turn_of_an_ended_memory(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "tier_turn")
    docs[_at(docs, "memory", lambda d: d["id"] == docs[i]["memory_id"])]["valid_to"] = docs[i]["at"]
    return i, "that memory is not current"


def _turn_of_another_session(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "tier_turn")
    docs[i]["run_id"] = "elsewhere"
    return i, "its owner or session is not its memory's \\(the turn's: [^;]*session 'elsewhere'; the memory's: "


def _turn_in_no_segment(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "tier_turn", lambda d: d["segment_id"] is not None)
    docs[i]["segment_id"] = "no-such-segment"
    return i, "is in segment 'no-such-segment', which the file does not hold"


def _turn_in_another_owners_segment(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "tier_turn", lambda d: d["owner"][0] == "ben" and d["segment_id"] is not None)
    anas = docs[_at(docs, "tier_segment", lambda d: d["owner"][0] == "ana")]["id"]
    docs[i]["segment_id"] = anas
    return i, rf"is in segment {anas!r} of user 'ana', not of the turn's owner \(user 'ben'\)"


def _segment_counting_a_turn_too_many(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "tier_segment")
    docs[i]["turns"] += 1
    return i, f"segment {docs[i]['id']!r} counts {docs[i]['turns']} turns; the file holds {docs[i]['turns'] - 1}"


def _segment_of_no_turn(docs: list[Doc]) -> tuple[int, str]:
    i = _at(docs, "tier_segment", lambda d: d["turns"] == 1)
    docs[:] = [d for d in docs if not (d["type"] == "tier_turn" and d["segment_id"] == docs[i]["id"])]
    return i, f"segment {docs[i]['id']!r} holds no turn of the file"


DANGLING: dict[str, Edit] = {
    "history of a memory the file does not hold": _history_of_no_memory,
    "a deleted memory's history without its DELETE": _deleted_without_its_delete,
    "a relation no memory asserts": _relation_nobody_asserts,
    "a relation asserted by a memory the file does not hold": _relation_of_a_memory_not_held,
    "a relation's memory not among those asserting it": _relation_of_a_memory_not_asserting_it,
    "a relation to an entity the file does not hold": _relation_to_no_entity,
    "a relation to another owner's entity": _relation_to_another_owners_entity,
    "an entity its own name does not find": _entity_without_its_own_name,
    "a turn of a memory the file does not hold": _turn_of_no_memory,
    "a turn of a memory that is not an episode": _turn_of_a_fact,
    "a turn of a memory no longer current": _turn_of_an_ended_memory,
    "a turn of another session than its memory's": _turn_of_another_session,
    "a turn in a segment the file does not hold": _turn_in_no_segment,
    "a turn in another owner's segment": _turn_in_another_owners_segment,
    "a segment counting more turns than the file holds in it": _segment_counting_a_turn_too_many,
    "a segment holding no turn of the file": _segment_of_no_turn,
}


@pytest.mark.parametrize("edit", DANGLING.values(), ids=DANGLING.keys())
async def test_a_dangling_reference_is_refused_by_line_before_anything_is_written(
    edit: Edit, varied: tuple[Settings, Path], tmp_path: Path, embedder: USEEmbedder
) -> None:
    docs = copy.deepcopy(_docs(varied[1]))
    index, message = edit(docs)
    bad = _write(tmp_path / "bad.jsonl", docs)
    target = _target(tmp_path / "target.db")
    async with AsyncMemory(target, embedder=embedder) as mem:
        with pytest.raises(InvalidInputError, match=rf"^line {index + 1}: .*{message}"):
            await import_store(mem, bad)
        stats = await mem.storage.records.stats()
        assert stats["memories"] == stats["history"] == 0
        assert (await mem.storage.graph.scan_entities(Scope(), limit=1))[0] == []
        assert (await mem.storage.graph.scan_relations(Scope(), limit=1))[0] == []
        assert (await _tiers(mem).scan_segments(Scope(), limit=1))[0] == []
        assert (await _tiers(mem).scan_turns(Scope(), limit=1))[0] == []
    report = await check_store(target, embedder=embedder)
    assert report.ok, report.problems


def test_the_cli_refuses_a_dangling_reference_and_the_store_it_was_for_keeps_what_it_held(
    varied: tuple[Settings, Path], tmp_path: Path, embedder: USEEmbedder, cli: Cli
) -> None:
    docs = copy.deepcopy(_docs(varied[1]))
    index, _ = _turn_of_no_memory(docs)
    bad = _write(tmp_path / "bad.jsonl", docs)
    store = tmp_path / "held.db"

    async def seed() -> None:
        async with AsyncMemory(store_settings(store), embedder=embedder) as mem:
            await mem.add("I like green tea", user_id="zoe")

    asyncio.run(seed())
    before = json.loads(cli(store, "check", "--json").stdout)["counts"]
    refused = cli(store, "import", str(bad))
    assert refused.exit_code == 1
    [error] = refused.stderr.strip().splitlines()
    assert re.search(rf"line {index + 1}: hierarchy turn of memory 'no-such-memory'", error), error
    checked = cli(store, "check", "--json")
    assert checked.exit_code == 0, checked.stdout
    assert json.loads(checked.stdout)["counts"] == before
