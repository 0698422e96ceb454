"""Import into a store with another embedder re-embeds; without exported vectors the same model
rebuilds exactly the index ingestion wrote (speaker, previous turn of the session)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.maintenance import check_store
from memoryd.models import Scope
from memoryd.portability import export_store, import_store
from tests.fakes.llm_server import Script
from tests.faults.embedders import HalfEmbedder
from tests.portability.conftest import fill, filled_export, lines, store_settings


def _without_index(text: list[str]) -> list[dict[str, object]]:
    docs = [json.loads(line) for line in text]
    for doc in docs:
        doc.pop("index", None)
    return docs


async def test_another_embedder_reembeds(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, half: type[HalfEmbedder]
) -> None:
    source = await fill(tmp_path, fake_llm, embedder)
    out, back = tmp_path / "use.jsonl", tmp_path / "half.jsonl"
    async with AsyncMemory(source, embedder=embedder) as mem:
        exported = await export_store(mem, out)
    target = store_settings(tmp_path / "half.db", embedder={"provider": "half"})
    async with AsyncMemory(target) as mem:
        done = await import_store(mem, out, batch_size=5)
        assert not done.reused_vectors and done.reembedded == exported.counts["memory"]
        hits = await mem.search("prefer tea", user_id="bob", limit=3)
        assert "I prefer tea" in {h.memory.text for h in hits}
        vectors = await mem.storage.vectors.vectors([h.memory.id for h in hits])
        assert {v.shape for v in vectors.values()} == {(256,)}
        await export_store(mem, back)
    assert _without_index(lines(back)) == _without_index(lines(out))
    assert (await check_store(target)).ok


async def test_without_vectors_the_same_model_rebuilds_the_same_index(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    source = await fill(tmp_path, fake_llm, embedder)
    out = tmp_path / "bare.jsonl"
    async with AsyncMemory(source, embedder=embedder) as mem:
        await export_store(mem, out, vectors=False)
        ids, _ = await mem.storage.records.scan(Scope())
        before = await mem.storage.vectors.vectors([m.id for m in ids])
        terms = await mem.storage.keywords.terms([m.id for m in ids])
    assert all("index" not in json.loads(line) for line in lines(out))
    async with AsyncMemory(store_settings(tmp_path / "copy.db"), embedder=embedder) as mem:
        done = await import_store(mem, out, batch_size=3)  # sessions span batches
        assert done.reembedded == len(ids)
        after = await mem.storage.vectors.vectors(list(before))
        assert await mem.storage.keywords.terms(list(terms)) == terms
    for memory_id, vector in before.items():
        assert float(np.dot(vector, after[memory_id])) > 0.9999, memory_id


async def test_a_damaged_vector_in_the_file_is_embedded_again(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    _, out = await filled_export(tmp_path, fake_llm, embedder)
    bad = tmp_path / "bad.jsonl"
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]  # header too
    first = next(d for d in docs if d.get("type") == "memory" and "index" in d)
    nan = np.full(512, np.nan, dtype="<f4")
    first["index"]["vector"] = base64.b64encode(nan.tobytes()).decode("ascii")
    bad.write_text("".join(json.dumps(d) + "\n" for d in docs))
    target = store_settings(tmp_path / "copy.db")
    async with AsyncMemory(target, embedder=embedder) as mem:
        done = await import_store(mem, bad)
        assert done.reused_vectors and done.reembedded == 1
        vector = (await mem.storage.vectors.vectors([first["id"]]))[first["id"]]
        assert np.isfinite(vector).all() and abs(float(np.linalg.norm(vector)) - 1) < 1e-3
        assert await mem.search(first["text"], user_id=first["user_id"] or None, agent_id=first["agent_id"])
    assert (await check_store(target)).ok


async def test_a_file_of_an_older_index_format_keeps_its_vectors_and_gets_new_terms(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    source, out = await filled_export(tmp_path, fake_llm, embedder)
    async with AsyncMemory(source, embedder=embedder) as mem:
        ids = [m.id for m in (await mem.storage.records.scan(Scope()))[0]]
        terms = await mem.storage.keywords.terms(ids)
        vectors = await mem.storage.vectors.vectors(ids)
    old = tmp_path / "old.jsonl"
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    docs[0]["index_format"] = "3"  # the header: terms of an older tokenizer
    for doc in docs:
        if doc.get("type") == "memory" and "index" in doc:
            doc["index"]["terms"] = ["made", "by", "the", "old", "tokenizer"]
    old.write_text("".join(json.dumps(d) + "\n" for d in docs))
    target = store_settings(tmp_path / "copy.db")
    async with AsyncMemory(target, embedder=embedder) as mem:
        done = await import_store(mem, old, batch_size=3)  # sessions span batches
        assert done.reused_vectors and done.reembedded == 0  # no model ran
        assert await mem.storage.keywords.terms(ids) == terms  # as ingestion made them
        after = await mem.storage.vectors.vectors(ids)
    assert all(np.array_equal(vectors[i], after[i]) for i in ids)
    assert (await check_store(target)).ok
