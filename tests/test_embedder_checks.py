"""What an embedder hands back is checked before it reaches a store: the openai embedder
against a real HTTP endpoint on loopback (the scripted fake), any embedder inside
AsyncMemory and `memoryd reindex`, on real SQLite files."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.config import Settings
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import BackendUnavailableError, ConfigError, StorageError
from memoryd.maintenance.check import check_store
from memoryd.maintenance.reindex import reindex_store
from memoryd.portability import export_store, import_store
from tests.fakes.llm_server import Script, fake_vector

SECRET = "tok-embed-7f3a9c2e51d84b06a1"  # not sk-shaped: only the embedder's own scrub hides it


def _unit(text: str, dim: int) -> np.ndarray:
    raw = np.asarray(fake_vector(text, dim), dtype=np.float32)
    return raw / np.linalg.norm(raw)


def _openai_settings(path: Path, fake: Script, dim: int = 16) -> Settings:
    return load_settings(
        env={},
        overrides={
            "storage": {"path": str(path)},
            "embedder": {"provider": "openai", "model": "emb", "base_url": fake.base_url, "dim": dim},
        },
    )


# -- the openai embedder ---------------------------------------------------------------------------


async def test_openai_nan_or_zero_vectors_are_refused_not_stored(fake_llm: Script, tmp_path: Path) -> None:
    """An endpoint answering NaN or all-zero vectors fails the add (503); before, they were
    stored and every later search of that user failed with "the vector index is damaged"."""
    async with AsyncMemory(_openai_settings(tmp_path / "m.db", fake_llm)) as mem:
        await mem.add("I drink green tea every morning", user_id="ana")
        nan = json.dumps({"data": [{"index": 0, "embedding": [1.0] * 8 + ["NaN"] * 8}]})
        fake_llm.reply_raw(nan.replace('"NaN"', "NaN"))
        with pytest.raises(BackendUnavailableError, match="not finite"):
            await mem.add("a memory the endpoint broke", user_id="ana")
        fake_llm.reply_body({"data": [{"index": 0, "embedding": [0.0] * 16}]})
        with pytest.raises(BackendUnavailableError, match="all-zero"):
            await mem.add("another memory the endpoint broke", user_id="ana")
        hits = await mem.search("green tea", user_id="ana")  # the user's searches still work
        assert [h.memory.text for h in hits] == ["I drink green tea every morning"]
    report = await check_store(_openai_settings(tmp_path / "m.db", fake_llm))
    assert report.ok, report.problems


def _rows(texts: list[str]) -> list[dict[str, object]]:
    return [{"index": i, "embedding": fake_vector(t, 16)} for i, t in enumerate(texts)]


TEXTS = ["I live in Lisbon", "my dog is Biscuit", "green tea"]


def test_openai_index_fields_place_each_vector_and_bad_ones_are_refused(fake_llm: Script) -> None:
    """Vectors go to the input their ``index`` names; indexes that do not name each input
    once (duplicates, 1-based, some missing) are an error, not vectors silently given to
    the wrong texts."""
    rows = _rows(TEXTS)
    embedder = OpenAIEmbedder(model="emb", base_url=fake_llm.base_url, dim=16)
    try:
        fake_llm.reply_body({"data": rows[::-1]})
        assert np.allclose(embedder.embed(TEXTS), np.stack([_unit(t, 16) for t in TEXTS]), atol=1e-6)
        # reversed, and every index 0: the old code kept the reply's order and gave
        # "green tea"'s vector to "I live in Lisbon"
        duplicated = [{**r, "index": 0} for r in rows[::-1]]
        partial = [{"embedding": rows[2]["embedding"]}, rows[1], rows[0]]
        one_based = [{**r, "index": int(str(r["index"])) + 1} for r in rows[::-1]]
        for body in (duplicated, partial, one_based):
            fake_llm.reply_body({"data": body})
            with pytest.raises(BackendUnavailableError, match="index fields"):
                embedder.embed(TEXTS)
    finally:
        embedder.close()


def test_openai_reads_base64_embeddings(fake_llm: Script) -> None:
    """``embedding`` as base64 of float32 (what ``encoding_format = "base64"`` answers) is read
    like a list of numbers; the old code called the reply malformed."""

    def encoded(text: str) -> str:
        return base64.b64encode(np.asarray(fake_vector(text, 16), "<f4").tobytes()).decode()

    embedder = OpenAIEmbedder(model="emb", base_url=fake_llm.base_url, dim=16)
    try:
        fake_llm.reply_body({"data": [{"index": i, "embedding": encoded(t)} for i, t in enumerate(TEXTS)]})
        assert np.allclose(embedder.embed(TEXTS), np.stack([_unit(t, 16) for t in TEXTS]), atol=1e-6)
    finally:
        embedder.close()


def test_openai_a_part_of_another_size_is_named(fake_llm: Script) -> None:
    """Texts sent in two requests whose vectors come back in two sizes: the size error naming
    embedder.dim, not numpy's "all the input array dimensions..." ValueError."""
    embedder = OpenAIEmbedder(model="emb", base_url=fake_llm.base_url, dim=16, batch_size=2)
    try:
        fake_llm.reply_body({"data": _rows(TEXTS[:2])})
        fake_llm.reply_body({"data": [{"index": 0, "embedding": fake_vector("green tea", 12)}]})
        with pytest.raises(BackendUnavailableError, match="returned 12-d vectors, expected 16") as info:
            embedder.embed(TEXTS)
        assert info.value.field == "embedder.dim" and not isinstance(info.value, ConfigError)
    finally:
        embedder.close()


def test_openai_error_detail_never_carries_a_cut_api_key(fake_llm: Script) -> None:
    """A body echoing the key where the 300-character cut falls: the old code cut first, then
    scrubbed, so the key's first half went out in the error."""
    embedder = OpenAIEmbedder(model="emb", base_url=fake_llm.base_url, api_key=SECRET, dim=16)
    try:
        fake_llm.reply_raw("x" * 270 + f"invalid key {SECRET}", status=401)
        with pytest.raises(BackendUnavailableError, match="HTTP 401") as caught:
            embedder.embed(["hello"])
        assert SECRET[:10] not in caught.value.message
    finally:
        embedder.close()


def test_openai_api_key_with_a_line_break_is_sent_stripped_and_never_echoed(fake_llm: Script) -> None:
    """A key read from a file ends in a newline: httpx refused the header with the whole key in
    its message (and it was retried as if the server were down). It is stripped; a key no header
    can carry is a config error that does not quote it."""
    embedder = OpenAIEmbedder(model="emb", base_url=fake_llm.base_url, api_key=SECRET + "\n", dim=16)
    try:
        assert embedder.embed(["hello"]).shape == (1, 16)
    finally:
        embedder.close()
    assert fake_llm.last.headers["authorization"] == f"Bearer {SECRET}"
    with pytest.raises(ConfigError, match="embedder.api_key") as caught:
        OpenAIEmbedder(model="emb", base_url=fake_llm.base_url, api_key=f"{SECRET}\r\nX: y", dim=16).embed(
            ["x"]
        )
    assert SECRET not in caught.value.message


# -- any embedder, inside AsyncMemory and reindex ----------------------------------------------------


class _Broken:
    """USE under its own name, answering in one of the ways a broken model or plugin does."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, inner: USEEmbedder) -> None:
        self.inner = inner
        self.mode = "ok"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = self.inner.embed(texts)
        if self.mode == "wide":
            return np.hstack([out, out]) / np.sqrt(2)
        if self.mode == "short":
            return out[:-1]
        if self.mode == "nan":
            out[-1, 3] = np.nan
        if self.mode == "nan-biscuit":  # one text breaks it: the reindex's first check passes
            out[["Biscuit" in t for t in texts], 3] = np.nan
        return out


@pytest.mark.parametrize("mode", ["wide", "short", "nan"])
async def test_vectors_of_another_size_count_or_nan_never_reach_the_index(
    mode: str, settings: Settings, embedder: USEEmbedder
) -> None:
    broken = _Broken(embedder)
    async with AsyncMemory(settings, embedder=broken) as mem:
        await mem.add("I adopted a golden retriever named Biscuit", user_id="ana")
        broken.mode = mode
        with pytest.raises(BackendUnavailableError, match="use-multilingual-v3"):
            await mem.add(["We moved to Porto last year", "I work nights at the hospital"], user_id="ana")
        broken.mode = "ok"
        hits = await mem.search("what is my dog called?", user_id="ana")
        assert hits and "Biscuit" in hits[0].memory.text
    report = await check_store(settings)
    assert report.ok, report.problems


async def test_reindex_stops_on_nan_vectors_and_leaves_the_index_incomplete(
    settings: Settings, embedder: USEEmbedder
) -> None:
    """A model that answers NaN mid-reindex stops it: the index stays marked incomplete (the
    next start says to run it again), rather than a "finished" index that fails every search."""
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add(["I adopted a golden retriever named Biscuit", "I live in Lisbon"], user_id="ana")
    broken = _Broken(embedder)
    broken.mode = "nan-biscuit"
    with pytest.raises(BackendUnavailableError, match="not finite"):
        await reindex_store(settings, embedder=broken)
    with pytest.raises(StorageError, match="incomplete"):
        await AsyncMemory(settings, embedder=embedder).open()
    await reindex_store(settings, embedder=embedder)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        hits = await mem.search("what is my dog called?", user_id="ana")
        assert "Biscuit" in hits[0].memory.text


async def test_reindex_with_a_misconfigured_or_unreachable_model_keeps_both_indexes(
    fake_llm: Script, tmp_path: Path
) -> None:
    """`memoryd reindex` with embedder.dim wrong, or the embedding server down, used to drop both
    indexes first and then fail: the store then refused even reads ("the vector index is
    incomplete") until a reindex succeeded. The model is asked once before anything is dropped."""
    path = tmp_path / "m.db"
    async with AsyncMemory(_openai_settings(path, fake_llm)) as mem:
        await mem.add("I drink green tea every morning", user_id="ana")
    with pytest.raises(BackendUnavailableError, match="returned 16-d vectors, expected 32") as info:
        await reindex_store(_openai_settings(path, fake_llm, dim=32))
    assert info.value.field == "embedder.dim"
    fake_llm.fail(503, times=3)
    with pytest.raises(BackendUnavailableError, match="HTTP 503"):
        await reindex_store(_openai_settings(path, fake_llm))
    async with AsyncMemory(_openai_settings(path, fake_llm)) as mem:
        page = await mem.get_all(user_id="ana")
        assert "I drink green tea every morning" in [m.text for m in page.items]
        hits = await mem.search("I drink green tea every morning", user_id="ana")
        assert hits and hits[0].memory.text == "I drink green tea every morning"


async def test_an_import_that_re_embeds_with_a_broken_model_stops_before_writing_its_vectors(
    settings: Settings, embedder: USEEmbedder, tmp_path: Path
) -> None:
    async with AsyncMemory(settings, embedder=embedder) as mem:
        await mem.add(["I adopted a golden retriever named Biscuit", "I live in Lisbon"], user_id="ana")
        await export_store(mem, tmp_path / "out.jsonl")

    class Other(_Broken):
        name = "another-model"  # not the file's: the import re-embeds every memory

    broken = Other(embedder)
    broken.mode = "nan"
    target = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "target.db")}})
    async with AsyncMemory(target, embedder=broken) as mem:
        with pytest.raises(BackendUnavailableError, match="not finite"):
            await import_store(mem, tmp_path / "out.jsonl")
