"""Export → import into a fresh store → export gives the same lines; the copy answers like the original."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, ConflictError, InvalidInputError
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store
from memoryd.models import Scope
from memoryd.portability import export_store, import_store
from tests.fakes.llm_server import Script
from tests.portability.conftest import fill, filled_export, lines, store_settings


async def _answers(mem: AsyncMemory) -> list[list[tuple[str, float]]]:
    out = []
    for query, user in (("sealing the deal", "alice"), ("where does she live", "alice"), ("tea", "bob")):
        hits = await mem.search(query, user_id=user, limit=5)
        out.append([(h.memory.id, round(h.score, 5)) for h in hits])
    then = await mem.search("where does she live", user_id="alice", as_of="2024-03-01", filters={"kind": "fact"})
    out.append([(h.memory.id, round(h.score, 5)) for h in then])
    return out


async def test_round_trip_is_lossless(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> None:
    source = await fill(tmp_path, fake_llm, embedder)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    async with AsyncMemory(source, embedder=embedder) as mem:
        exported = await export_store(mem, first)
        before = await _answers(mem)
        relations = await mem.storage.graph.relations(Scope("alice"), include_expired=True)
    assert exported.counts["memory"] >= 12 and exported.counts["entity"] >= 6
    assert exported.counts["relation"] == 4 and exported.counts["history"] > exported.counts["memory"]

    copy = store_settings(tmp_path / "copy.db")
    async with AsyncMemory(copy, embedder=embedder) as mem:
        imported = await import_store(mem, first)
        assert imported.counts == exported.counts and imported.reused_vectors and imported.reembedded == 0
        await export_store(mem, second)
        assert await _answers(mem) == before
        copied = await mem.storage.graph.relations(Scope("alice"), include_expired=True)
        assert [r.to_dict() for r in copied] == [r.to_dict() for r in relations]
        alice = await mem.get_all(user_id="alice", include_expired=True, limit=100)
        assert any(m.valid_to is not None for m in alice.items)  # the superseded fact kept its interval
    assert lines(second) == lines(first)
    assert (await check_store(copy, embedder=embedder)).ok

    # Every stored field is in the file: a memory line is the record, field for field.
    docs = [json.loads(line) for line in lines(first)]
    deal = next(d for d in docs if d["type"] == "memory" and d["text"].startswith("How did it feel"))
    assert deal["metadata"] == {"topic": "work", "n": 2} and deal["actor"] == "Tim"
    assert deal["event_time"] == "2024-05-01T10:00:00.000000+00:00" and deal["run_id"] == "s1"
    assert {d["event"] for d in docs if d["type"] == "history"} >= {"ADD", "UPDATE", "DELETE", "SUPERSEDE"}
    bob = next(d for d in docs if d["type"] == "entity" and d["name"] == "Bob")  # "Robert" merged into it
    assert ["robert", "Robert"] in bob["names"] and bob["owner"] == ["bob", "helper", None]


async def test_one_user(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> None:
    source = await fill(tmp_path, fake_llm, embedder)
    out = tmp_path / "bob.jsonl"
    async with AsyncMemory(source, embedder=embedder) as mem:
        summary = await export_store(mem, out, user_id="bob")
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert docs[0]["scope"] == {"user_id": "bob"}
    rows = [d for d in docs[1:-1]]
    assert rows and all(d.get("user_id", (d.get("owner") or [None])[0]) == "bob" for d in rows)
    assert summary.counts["relation"] == 2 and summary.counts["entity"] == 3  # Bob (Robert), Acme, a red car
    async with AsyncMemory(store_settings(tmp_path / "bob.db"), embedder=embedder) as mem:
        await import_store(mem, out)
        assert (await mem.search("tea", user_id="bob"))[0].memory.text == "I prefer tea"
        assert (await mem.get_all(user_id="alice")).total == 0


async def test_an_interrupted_import_leaves_a_store_that_refuses_to_open(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    _, out = await filled_export(tmp_path, fake_llm, embedder)
    target = store_settings(tmp_path / "target.db")

    def crash(phase: str, advance: int, total: int | None) -> None:
        if phase == "importing" and advance:  # after the first batch is committed
            raise KeyboardInterrupt  # what a kill -9 or Ctrl-C leaves: part of the file

    async with AsyncMemory(target, embedder=embedder) as mem:
        with pytest.raises(KeyboardInterrupt):
            await import_store(mem, out, batch_size=2, progress=crash)
    for attempt in range(2):  # neither a server nor another import takes it for a whole store
        with pytest.raises(ConflictError, match="did not finish"):
            async with AsyncMemory(target, embedder=embedder) as mem:
                if attempt:
                    await import_store(mem, out)
    checked = await check_store(target, embedder=embedder)  # nor `memoryd check`
    assert not checked.ok and any("did not finish" in p.message for p in checked.problems)
    target.storage.path.unlink()  # what the message says to do
    async with AsyncMemory(target, embedder=embedder) as mem:
        assert (await import_store(mem, out)).counts["memory"] > 2
    async with AsyncMemory(target, embedder=embedder) as mem:  # a finished import opens
        assert (await mem.storage.records.stats())["memories"] > 2
    # Into a store that held memories already, an interrupted import never locks them away.
    held = store_settings(tmp_path / "held.db")
    async with AsyncMemory(held, embedder=embedder) as mem:
        await mem.add("a memory that was here first", user_id="zed")
        with pytest.raises(KeyboardInterrupt):
            await import_store(mem, out, batch_size=2, progress=crash)
    async with AsyncMemory(held, embedder=embedder) as mem:
        assert [m.text for m in (await mem.get_all(user_id="zed")).items] == ["a memory that was here first"]
    report = await check_store(held, embedder=embedder)  # ... but never passes for a finished one
    assert not report.ok and any("next to what it held" in p.message for p in report.problems)


async def test_after_an_interrupted_import_check_s_fix_works_and_no_other_import_hides_it(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    source, out = await filled_export(tmp_path, fake_llm, embedder)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    memories = sum(r.get("type") == "memory" for r in rows)
    done = 0

    def crash_in_history(phase: str, advance: int, total: int | None) -> None:
        nonlocal done
        done += advance if phase == "importing" else 0
        if done > memories:  # a batch of history rows is in
            raise KeyboardInterrupt

    held = store_settings(tmp_path / "held.db")
    other = tmp_path / "zed.jsonl"
    async with AsyncMemory(store_settings(tmp_path / "zed.db"), embedder=embedder) as mem:
        await mem.add("a note of another user", user_id="zed")
        await export_store(mem, other)
    async with AsyncMemory(held, embedder=embedder) as mem:
        await mem.add("a memory that was here first", user_id="held")
        with pytest.raises(KeyboardInterrupt):
            await import_store(mem, out, batch_size=2, progress=crash_in_history)
    report = await check_store(held, embedder=embedder)
    assert any("memoryd import --restart" in p.fix for p in report.problems), report.problems
    async with AsyncMemory(held, embedder=embedder) as mem:
        # another file's import would clear the mark
        with pytest.raises(ConflictError, match="did not finish.*memoryd import --restart"):
            await import_store(mem, other)
        await import_store(mem, out, restart=True)  # what `memoryd check` says to do
        assert [m.text for m in (await mem.get_all(user_id="held")).items] == ["a memory that was here first"]
        for r in rows:
            if r.get("type") == "memory":
                assert (await mem.get(r["id"])).text == r["text"]
        await import_store(mem, other)  # and the next file may follow
    report = await check_store(held, embedder=embedder)
    assert report.ok, report.problems


async def test_import_refuses_conflicts_and_broken_files(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    source, out = await filled_export(tmp_path, fake_llm, embedder)
    async with AsyncMemory(source, embedder=embedder) as mem:
        with pytest.raises(ConflictError, match="already holds memories"):
            await import_store(mem, out)  # into the store it came from
    text = out.read_text().splitlines()
    broken = {
        "truncated": (text[:-3], "no end line"),
        "counts": (text[:-3] + text[-1:], "incomplete"),
        "garbage": (text[:2] + ["{not json"] + text[2:], "line 3: not JSON"),
        "unknown": (text[:2] + ['{"type": "segment"}'] + text[2:], "unknown type 'segment'"),
        "newer": ([text[0].replace('"format":1', '"format":9')] + text[1:], "newer memoryd"),
        "no header": (text[1:], "starts with its header"),
        "twice": (_again(text, "entity"), "a second entity with id"),  # would fail halfway in
        "dangling": (_retarget(text), "names an entity the file does not hold"),
        # what the graph's or SQLite's own constraints would refuse halfway in
        "a name of another entity": (_renamed(text), "has the name .* of entity"),
        "a name twice": (_edited(text, "entity", lambda r: {**r, "names": r["names"] * 2}), "lists a name twice"),
        "a huge count": (_edited(text, "tier_turn", lambda r: {**r, "level": 10**30}), "from 0 to 2\\*\\*63 - 1"),
    }
    target = store_settings(tmp_path / "target.db")
    async with AsyncMemory(target, embedder=embedder) as mem:
        for name, (content, message) in broken.items():
            bad = tmp_path / f"{name}.jsonl"
            bad.write_text("\n".join(content) + "\n")
            with pytest.raises(InvalidInputError, match=message):
                await import_store(mem, bad)
        latin1 = tmp_path / "latin1.jsonl"
        latin1.write_bytes("\n".join(text[:3]).encode() + b'\n{"type": "memory", "text": "caf\xe9"}\n')
        with pytest.raises(InvalidInputError, match="is not UTF-8 text"):
            await import_store(mem, latin1)
        assert (await mem.storage.records.stats())["memories"] == 0  # nothing was written
    # A graph owner already present is refused before anything is written.
    async with AsyncMemory(source, embedder=embedder) as mem:
        entities, _ = await mem.storage.graph.scan_entities(Scope("bob"), limit=1)
    async with AsyncMemory(target, embedder=embedder) as mem:
        await mem.storage.graph.restore(entities, [])
        with pytest.raises(ConflictError, match="graph entities"):
            await import_store(mem, out)
        assert (await mem.storage.records.stats())["memories"] == 0


def _again(text: list[str], kind: str) -> list[str]:
    """The file with its first ``kind`` line twice (and the end line counting it)."""
    first = next(i for i, line in enumerate(text) if json.loads(line).get("type") == kind)
    end = json.loads(text[-1])
    end["counts"][kind] += 1
    return text[: first + 1] + [text[first]] + text[first + 1 : -1] + [json.dumps(end)]


def _edited(text: list[str], kind: str, edit: Any) -> list[str]:
    """The file with its first ``kind`` line changed by ``edit``."""
    out = list(text)
    first = next(i for i, line in enumerate(out) if json.loads(line).get("type") == kind)
    out[first] = json.dumps(edit(json.loads(out[first])))
    return out


def _renamed(text: list[str]) -> list[str]:
    """The file with its second entity of an owner given the first one's name."""
    rows = [json.loads(line) for line in text]
    entities = [i for i, r in enumerate(rows) if r.get("type") == "entity"]
    first = rows[entities[0]]
    second = next(i for i in entities[1:] if rows[i]["owner"] == first["owner"])
    rows[second] = {**rows[second], "normal": first["normal"], "names": [[first["normal"], first["name"]]]}
    return [json.dumps(r) for r in rows]


def _retarget(text: list[str]) -> list[str]:
    """The file with its first relation pointing at an entity it does not hold."""
    out = list(text)
    first = next(i for i, line in enumerate(out) if json.loads(line).get("type") == "relation")
    row = json.loads(out[first])
    row["source_id"] = "no-such-entity"
    out[first] = json.dumps(row)
    return out


async def test_history_imported_once_is_not_written_twice(tmp_path: Path, embedder: USEEmbedder) -> None:
    source = store_settings(tmp_path / "source.db")
    async with AsyncMemory(source, embedder=embedder) as mem:
        [note] = await mem.add("a temporary note", user_id="gone")
        await mem.delete(note.id)  # only its history is left
        out = tmp_path / "gone.jsonl"
        await export_store(mem, out, user_id="gone")
    target = store_settings(tmp_path / "target.db")
    async with AsyncMemory(target, embedder=embedder) as mem:
        assert (await import_store(mem, out)).counts["history"] == 2
        assert (await import_store(mem, out)).counts["history"] == 0  # not ADD, DELETE, ADD, DELETE
        assert [h.event.value for h in await mem.history(note.id)] == ["ADD", "DELETE"]


async def test_a_deleted_user_is_restored_from_its_own_backup(tmp_path: Path, embedder: USEEmbedder) -> None:
    """A user's export imported back into the store the user was deleted from: the memories come
    back, their history is not doubled and says they were restored."""
    settings = store_settings(tmp_path / "store.db")
    async with AsyncMemory(settings, embedder=embedder) as mem:
        tea = (await mem.add("I like green tea", user_id="ana"))[0]
        await mem.add("I like chess", user_id="bob")
        backup = tmp_path / "ana.jsonl"
        await export_store(mem, backup, user_id="ana")
        await mem.delete_all(user_id="ana")
        summary = await import_store(mem, backup)
        assert summary.counts["memory"] >= 1 and summary.counts["history"] == 0
        assert (await mem.get(tea.id, user_id="ana")).text == "I like green tea"
        assert [h.event.value for h in await mem.history(tea.id)] == ["ADD", "DELETE", "ADD"]
        assert (await mem.search("tea", user_id="ana"))[0].memory.id == tea.id
    assert (await check_store(settings, embedder=embedder)).ok
