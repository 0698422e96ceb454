"""The embedder failing: a clear error (503 over HTTP), and nothing already acknowledged is lost.

The embedder is a real implementation registered under "flaky" and chosen by
``embedder.provider``, the way any plugin would be; it fails like a remote model
whose server is down (BackendUnavailableError).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from memoryd import AsyncMemory, BackendUnavailableError, Settings, load_settings
from memoryd.maintenance import check_store
from memoryd.server import create_app
from tests.api.conftest import running_app
from tests.faults.embedders import FlakyEmbedder


def flaky_settings(tmp_path: Path) -> Settings:
    return load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "flaky.db")}, "embedder": {"provider": "flaky"}}
    )


async def test_an_add_that_fails_on_the_embedder_leaves_no_unretrieved_error_behind(
    tmp_path: Path, flaky: type[FlakyEmbedder], caplog: pytest.LogCaptureFixture
) -> None:
    """The rule memories' vectors, asked for beside the episodes', were never awaited when the
    episodes' failed: asyncio logged "Future exception was never retrieved" with a traceback."""
    import gc

    settings = flaky_settings(tmp_path)
    async with AsyncMemory(settings) as mem:
        await mem.add("I keep bees", user_id="ana")  # the model is loaded
        flaky.failing = True

        async def fails() -> str:
            try:
                await mem.add("My name is Ana and I love honey", user_id="ana")  # rules: a name, a like
            except BackendUnavailableError as exc:
                return exc.message  # and no traceback keeps the add's frames alive
            return "no error"

        assert "unreachable" in await fails()
        flaky.failing = False
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0)  # the loop's handler logs what a collected future never gave
    assert "never retrieved" not in caplog.text


async def test_library_error_is_clear_and_nothing_acknowledged_is_lost(
    tmp_path: Path, flaky: type[FlakyEmbedder]
) -> None:
    settings = flaky_settings(tmp_path)
    async with AsyncMemory(settings) as mem:
        acked = [r.id for r in await mem.add(["I keep bees", "They make honey"], user_id="ana", run_id="s1")]
        acked += [r.id for r in await mem.add("My hives are in the garden", user_id="ana", run_id="s1")]
        flaky.failing = True
        with pytest.raises(BackendUnavailableError, match="embedder 'flaky' is unreachable"):
            await mem.add("This one is not acknowledged", user_id="ana", run_id="s1")
        with pytest.raises(BackendUnavailableError, match="unreachable"):
            await mem.search("bees", user_id="ana")
        # Reads that need no embedding still answer, with every acknowledged memory.
        page = await mem.get_all(user_id="ana", filters={"kind": "episode"})
        assert sorted(m.id for m in page.items) == sorted(acked)
        flaky.failing = False
        again = await mem.add("This one is not acknowledged", user_id="ana", run_id="s1")
        assert again[0].event.value == "ADD"  # nothing half-written blocks the retry
        hits = await mem.search("where are the hives?", user_id="ana")
        assert hits[0].memory.text == "My hives are in the garden"
    report = await check_store(settings)
    assert report.ok, report.problems
    assert report.counts["memories"] == report.counts["vectors"] == report.counts["keywords"] == 4


def test_http_answers_503_and_keeps_what_it_acknowledged(tmp_path: Path, flaky: type[FlakyEmbedder]) -> None:
    settings = flaky_settings(tmp_path)
    with running_app(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        body = {"messages": [{"role": "user", "content": "I keep bees"}], "user_id": "ana"}
        ok = client.post("/v1/memories", json=body)
        assert ok.status_code == 200, ok.text
        flaky.failing = True
        failed = client.post("/v1/memories", json={**body, "messages": [{"role": "user", "content": "new"}]})
        assert failed.status_code == 503
        error = failed.json()["error"]
        assert error["code"] == "backend_unavailable" and "embedder 'flaky' is unreachable" in error["message"]
        assert client.post("/v1/memories/search", json={"query": "bees", "user_id": "ana"}).status_code == 503
        listed = client.get("/v1/memories", params={"user_id": "ana", "filters": '{"kind": "episode"}'})
        assert [m["text"] for m in listed.json()["results"]] == ["I keep bees"]
        flaky.failing = False
        assert client.post("/v1/memories/search", json={"query": "bees", "user_id": "ana"}).status_code == 200


async def test_a_crashing_local_model_is_a_503_naming_the_embedder(
    tmp_path: Path, flaky: type[FlakyEmbedder]
) -> None:
    async with AsyncMemory(flaky_settings(tmp_path)) as mem:
        await mem.add("I keep bees", user_id="ana")
        flaky.crashing = True
        try:
            with pytest.raises(BackendUnavailableError) as err:
                await mem.add("new", user_id="ana")
            assert err.value.field == "embedder" and "out of memory" in err.value.message
            assert "use-multilingual-v3" in err.value.message
        finally:
            flaky.crashing = False
        assert len(await mem.search("bees", user_id="ana")) == 1
