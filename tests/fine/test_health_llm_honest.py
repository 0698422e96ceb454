"""``/health``'s LLM check against a model that keeps failing in ways its circuit breaker does not
count, found in a review of fine mode against a misbehaving LLM.

Each test failed on the code before its fix: the check said ``ok`` whenever a breaker was closed,
so a model answering prose in place of JSON (every add stored as in fast mode, the breaker never
opened: the target answered) and a model failing fewer times in a row than ``breaker_failures``
both read ``ok``, with ``successes`` 0 and a ``last_error`` beside it.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server
from tests.fakes.llm_server import Script
from tests.fine.conftest import llm_settings

FACTS = {"facts": [{"text": "Zoe keeps bees", "sources": [0]}]}


async def test_a_model_whose_answers_are_all_unusable_makes_the_llm_check_degraded(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    mem = await AsyncMemory(llm_settings(tmp_path, fake_llm.base_url), embedder=embedder).open()
    try:
        fake_llm.default_text("Sure! Zoe keeps bees, which is a lovely hobby.")  # prose, never JSON
        out = await mem.add("I keep bees.", user_id="zoe")
        assert out.llm is not None and out.llm.fallback  # stored as in fast mode
        llm = (await mem.health())["checks"]["llm"]
        assert llm["status"] == "degraded"
        assert "unusable" in llm["reason"] and "fast mode" in llm["reason"]
        assert llm["last_error"] and llm["last_error"] in llm["reason"]
        fake_llm.default_json(FACTS)
        out = await mem.add("I keep bees in the garden.", user_id="zoe")
        assert out.llm is not None and out.llm.calls and not out.llm.fallback
        llm = (await mem.health())["checks"]["llm"]
        assert llm["status"] == "ok" and "reason" not in llm
    finally:
        await mem.close()


async def test_failures_short_of_opening_the_breaker_make_the_llm_check_degraded(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    settings = llm_settings(tmp_path, fake_llm.base_url, max_attempts=4, breaker_failures=5)
    mem = await AsyncMemory(settings, embedder=embedder).open()
    try:
        fake_llm.default_json(FACTS)
        await mem.add("I keep bees.", user_id="zoe")  # one success first: the model worked once
        assert (await mem.health())["checks"]["llm"]["status"] == "ok"
        fake_llm.fail(500, message="upstream exploded", times=4)
        out = await mem.add("I keep wasps too.", user_id="zoe")
        assert out.llm is not None and out.llm.fallback
        llm = (await mem.health())["checks"]["llm"]
        assert [t["state"] for t in llm["targets"].values()] == ["closed"]  # 4 < breaker_failures
        assert llm["status"] == "degraded"
        assert "the last 4 LLM calls failed with no success since" in llm["reason"]
        assert "HTTP 500" in llm["reason"] and "fast mode" in llm["reason"]
        await mem.add("I keep ants.", user_id="zoe")
        assert (await mem.health())["checks"]["llm"]["status"] == "ok"
    finally:
        await mem.close()


def test_a_degraded_llm_check_degrades_the_server_but_leaves_it_ready(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    fake_llm.default_text("Sure! Zoe keeps bees, which is a lovely hobby.")  # prose, never JSON
    settings = llm_settings(tmp_path, fake_llm.base_url)
    with (
        running_server(settings, embedder) as running,
        httpx.Client(base_url=running.url, timeout=60) as http,
    ):
        assert (
            http.post("/v1/memories", json={"messages": "I keep bees.", "user_id": "zoe"}).status_code == 200
        )
        health = http.get("/health")
        assert health.status_code == 200
        report = health.json()
        assert (report["status"], report["mode"], report["checks"]["llm"]["status"]) == (
            "degraded",
            "DegradedReady",
            "degraded",
        )
        assert http.get("/health/ready").json() == {"status": "ready", "mode": "DegradedReady"}
        fake_llm.default_json(FACTS)
        assert (
            http.post("/v1/memories", json={"messages": "I keep ants.", "user_id": "zoe"}).status_code == 200
        )
        assert http.get("/health").json()["status"] == "ok"
        assert http.get("/health/ready").json() == {"status": "ready"}
