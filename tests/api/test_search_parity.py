"""The same searches through the library, ``POST /v1/memories/search`` and mem0's ``POST /search``:
same hits in the same order; /v1's scores are the library's, mem0's are the hits' cosines."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import make_settings, running_server

_TURNS = [
    ("I adopted a golden retriever named Biscuit", {"user_id": "ana"}, {"tags": ["pets", "dog"]}),
    ("I moved to Lisbon last spring", {"user_id": "ana", "agent_id": "travel"}, {"tags": ["home"]}),
    ("I love playing basketball on Sundays", {"user_id": "ana", "run_id": "s1"}, {"tags": ["sport"]}),
    ("我喜欢在北京吃烤鸭", {"user_id": "ana"}, {"tags": ["food"], "level": 2}),
    ("The support bot should answer in Portuguese", {"agent_id": "travel"}, {}),
    ("Session notes: coffee with milk, no sugar", {"run_id": "s1"}, {"level": 5}),
]
_SEARCHES: list[dict[str, Any]] = [
    {"query": "where does Ana live?", "user_id": "ana"},
    {"query": "I adopted a golden retriever named Biscuit", "user_id": "ana", "limit": 1},
    {"query": 'dog "Biscuit* NEAR( AND - ^ : OR', "user_id": "ana"},
    {"query": "北京烤鸭", "user_id": "ana", "threshold": 0.1},
    {"query": "sports", "user_id": "ana", "filters": {"tags": {"contains": "sport"}}},
    {"query": "food", "user_id": "ana", "filters": {"OR": [{"level": {"gte": 2}}, {"NOT": {"tags": "*"}}]}},
    {"query": "language", "agent_id": "travel"},
    {"query": "coffee", "run_id": "s1"},
    {"query": "home", "user_id": "ana", "agent_id": "travel"},
]


def _library_hits(path: Path, embedder: USEEmbedder) -> list[list[tuple[str, float, float]]]:
    async def run() -> list[list[tuple[str, float, float]]]:
        async with AsyncMemory(make_settings(path), embedder=embedder) as amem:
            out = []
            for body in _SEARCHES:
                args = {k: v for k, v in body.items() if k != "query"}
                hits = await amem.search(body["query"], explain=True, **args)
                out.append([(h.memory.id, h.score, (h.explain or {})["dense_cosine"]) for h in hits])
            return out

    return asyncio.run(run())


def test_the_routes_and_the_library_find_the_same_hits(tmp_path: Path, embedder: USEEmbedder) -> None:
    path = tmp_path / "api.db"
    v1: list[list[tuple[str, float, float]]] = []
    mem0: list[list[tuple[str, float]]] = []
    with running_server(make_settings(path), embedder) as server, httpx.Client(base_url=server.url) as client:
        for text, scope, metadata in _TURNS:
            body = {"messages": [{"role": "user", "content": text}], "metadata": metadata, **scope}
            assert client.post("/v1/memories", json=body).status_code == 200
        for body in _SEARCHES:
            got = client.post("/v1/memories/search", json={**body, "explain": True})
            assert got.status_code == 200, got.text
            v1.append([(h["id"], h["score"], h["explain"]["dense_cosine"]) for h in got.json()["results"]])
            old = client.post("/search", json=body)
            assert old.status_code == 200, old.text
            mem0.append([(h["id"], h["score"]) for h in old.json()["results"]])
    library = _library_hits(path, embedder)
    assert all(library), library  # every search finds something
    assert v1 == library
    assert mem0 == [[(mid, cosine) for mid, _, cosine in hits] for hits in library]
