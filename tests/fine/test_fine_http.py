"""Fine mode over real HTTP: both route families, relations in add and search."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server
from tests.fakes.llm_server import Script
from tests.fine.conftest import llm_settings

EXTRACTION = {
    "facts": [{"text": "Carol's sister Dana lives in Lisbon", "sources": [0]}],
    "relations": [
        {"source": "Carol", "relation": "sister_of", "target": "Dana", "fact": 0},
        {"source": "Dana", "relation": "lives_in", "target": "Lisbon", "fact": 0},
    ],
}


@contextmanager
def fine_client(tmp_path: Path, fake: Script, embedder: USEEmbedder) -> Iterator[httpx.Client]:
    with (
        running_server(llm_settings(tmp_path, fake.base_url), embedder) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield client


def test_v1_add_and_graph_search(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> None:
    fake_llm.reply_json(EXTRACTION)
    with fine_client(tmp_path, fake_llm, embedder) as client:
        added = client.post(
            "/v1/memories",
            json={
                "messages": [{"role": "user", "content": "My sister Dana lives in Lisbon."}],
                "user_id": "carol",
            },
        ).json()
        assert added["mode"] == "fine" and added["llm"]["calls"] == 1
        assert [r["kind"] for r in added["results"]] == ["episode", "fact"]
        assert len(added["relations"]["added_entities"]) == 2
        # Two hops from Carol reach Lisbon through Dana.
        query = {"query": "Where is Carol's family?", "user_id": "carol", "graph_hops": 2}
        found = client.post("/v1/memories/search", json=query).json()
        triples = {(r["source"], r["relationship"], r["target"]) for r in found["relations"]}
        assert triples == {("Carol", "sister_of", "Dana"), ("Dana", "lives_in", "Lisbon")}
        one_hop = client.post(
            "/v1/memories/search", json={"query": "Carol", "user_id": "carol", "graph_hops": 1}
        ).json()
        assert ("Carol", "Dana") in {(r["source"], r["target"]) for r in one_hop["relations"]}
        # Without graph_hops there is no relations member; a bad value names its field.
        assert (
            "relations"
            not in client.post("/v1/memories/search", json={"query": "Carol", "user_id": "carol"}).json()
        )
        bad = client.post("/v1/memories/search", json={"query": "x", "user_id": "carol", "graph_hops": 3})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "graph_hops"
        # Another user sees none of it.
        other = client.post(
            "/v1/memories/search", json={"query": "Carol Dana", "user_id": "eve", "graph_hops": 2}
        ).json()
        assert other["results"] == [] and other["relations"] == []
        health = client.get("/health").json()
        assert health["checks"]["llm"]["mode"] == "fine"
        assert "sk-test-secret" not in str(health)


def test_mem0_infer_runs_fine_mode(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> None:
    fake_llm.reply_json(EXTRACTION)
    with fine_client(tmp_path, fake_llm, embedder) as client:
        body = client.post(
            "/memories", json={"messages": "My sister Dana lives in Lisbon.", "user_id": "carol"}
        ).json()
        assert body["mode"] == "fine" and "notice" not in body
        assert {r["event"] for r in body["results"]} == {"ADD"}
        assert body["relations"]["added_entities"]
        calls = len(fake_llm.requests)
        raw = client.post(
            "/memories", json={"messages": "Just store me.", "user_id": "carol", "infer": False}
        ).json()
        assert raw["mode"] == "fast" and len(fake_llm.requests) == calls


def test_mem0_add_says_when_fine_mode_fell_back(tmp_path: Path, fake_llm: Script, embedder: USEEmbedder) -> None:
    fake_llm.fail(503, times=20)  # the LLM is down: the message is stored as an episode, and says so
    with fine_client(tmp_path, fake_llm, embedder) as client:
        body = client.post("/memories", json={"messages": "My sister Dana lives in Lisbon.", "user_id": "carol"})
    reply = body.json()
    assert body.status_code == 200 and [r["event"] for r in reply["results"]] == ["ADD"]
    assert "stored as in fast mode" in reply["notice"] and reply["llm"]["fallback"] == reply["notice"]
