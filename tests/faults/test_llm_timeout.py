"""The LLM stalling (the scripted vendor never answers in time): fine mode falls back and drops no input.

tests/fine covers an LLM that answers with errors (503) or garbage; these cover silence past
``llm.timeout_s``, in extraction and in reconciliation, through the library and over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.models import Event
from memoryd.server import create_app
from tests.api.conftest import running_app
from tests.fakes.llm_server import Script
from tests.fine.conftest import llm_settings

STALL = 30.0  # far past the timeout: the client gives up first
TIMEOUT = 0.5


@pytest.fixture
async def fine(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> AsyncIterator[AsyncMemory]:
    settings = llm_settings(tmp_path, fake_llm.base_url, timeout_s=TIMEOUT, max_attempts=2)
    async with AsyncMemory(settings, embedder=embedder) as mem:
        yield mem


async def test_stalled_extraction_keeps_every_message(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.hang(STALL, times=4)
    messages = ["I visited Oslo in March.", "My sister Ida lives there too."]
    out = await fine.add(messages, user_id="zoe", run_id="s1")
    assert [r.event for r in out] == [Event.ADD, Event.ADD] and [r.kind for r in out] == ["episode"] * 2
    assert out.llm is not None and out.llm.fallback is not None
    assert f"no answer within {TIMEOUT} s" in out.llm.fallback and "fast mode" in out.llm.fallback
    stored = await fine.get_all(user_id="zoe", run_id="s1")
    assert sorted(m.text for m in stored.items) == sorted(messages)
    hits = await fine.search("Oslo", user_id="zoe")
    assert messages[0] in {h.memory.text for h in hits}


async def test_stalled_reconciliation_keeps_the_facts(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json({"facts": [{"text": "Zoe likes tea", "sources": [0]}]})
    await fine.add("I like tea.", user_id="zoe")
    fake_llm.reply_json({"facts": [{"text": "Zoe likes green tea", "sources": [0]}]})
    fake_llm.hang(STALL, times=4)  # every reconciliation attempt
    out = await fine.add("Green tea, mostly.", user_id="zoe")
    assert [r.kind for r in out if r.kind == "episode"] == ["episode"]
    facts = [r for r in out if r.kind != "episode"]
    assert [(r.event, r.text) for r in facts] == [(Event.ADD, "Zoe likes green tea")]
    known = await fine.get_all(user_id="zoe", filters={"kind": "fact"})
    assert sorted(m.text for m in known.items) == ["Zoe likes green tea", "Zoe likes tea"]


def test_http_add_answers_despite_a_stalled_llm(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> None:
    settings = llm_settings(tmp_path, fake_llm.base_url, timeout_s=TIMEOUT, max_attempts=2)
    fake_llm.hang(STALL, times=4)
    memory = AsyncMemory(settings, embedder=embedder)
    app = create_app(settings, memory=memory)
    with running_app(app, after=memory.close) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/v1/memories", json={"messages": "I keep bees.", "user_id": "zoe"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [x["event"] for x in body["results"]] == ["ADD"]
        assert body["llm"]["fallback"]
        listed = client.get("/v1/memories", params={"user_id": "zoe"}).json()
        assert [m["text"] for m in listed["results"]] == ["I keep bees."]
