"""The ``openai`` embedder's base_url and key as users write them (as ``llm.base_url`` is read), and
a batch over a provider's inputs-per-request limit, against real loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from aiohttp import web

from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.errors import BackendUnavailableError
from memoryd.llm import VENDORS, Vendor, register_vendor
from tests.fakes.llm_server import FakeLLMServer, Script, fake_vector
from tests.llm.conftest import KEY, serving


def _unit(text: str, dim: int) -> np.ndarray:
    raw = np.asarray(fake_vector(text, dim), dtype=np.float32)
    return raw / np.linalg.norm(raw)


@pytest.fixture
def hosted_vendor(fake_llm: Script) -> Iterator[str]:
    """An OpenAI-compatible vendor whose API lives at the fake server's ``/r/default/v1`` (as Ollama's
    lives at ``http://localhost:11434/v1``), its key in ``FAKEEMBED_KEY``."""
    register_vendor(Vendor("fakeembed", "openai", fake_llm.base_url, ("FAKEEMBED_KEY",), None, auth="none"))
    try:
        yield "fakeembed"
    finally:
        VENDORS.pop("fakeembed", None)


def test_a_vendors_server_address_alone_reaches_its_embeddings_with_its_key(
    hosted_vendor: str, fake_llm: Script, fake_llm_server: FakeLLMServer
) -> None:
    """``base_url = "http://localhost:11434"`` for Ollama was sent to ``/embeddings`` (a 404)."""
    embedder = OpenAIEmbedder(
        model="e", base_url=fake_llm_server.root + "/", dim=16, env={"FAKEEMBED_KEY": KEY}
    )
    try:
        vectors = embedder.embed(["I keep bees"])
    finally:
        embedder.close()
    assert np.allclose(vectors[0], _unit("I keep bees", 16), atol=1e-5)
    assert fake_llm.last.path == "v1/embeddings" and fake_llm.last.headers["authorization"] == f"Bearer {KEY}"
    ollama = OpenAIEmbedder(model="nomic-embed-text", base_url="http://localhost:11434", dim=8)
    assert ollama.base_url == "http://localhost:11434/v1"
    ollama.close()


def test_a_vendors_key_variable_goes_to_no_other_server(hosted_vendor: str, fake_llm: Script) -> None:
    port = urlsplit(fake_llm.base_url).port
    elsewhere = (
        f"http://localhost:{port}/r/default/v1"  # the same server, another host name: not the vendor's
    )
    env = {"FAKEEMBED_KEY": KEY, "OPENAI_API_KEY": KEY, "AZURE_OPENAI_API_KEY": KEY}
    embedder = OpenAIEmbedder(model="e", base_url=elsewhere, dim=16, env=env)
    try:
        embedder.embed(["I keep bees"])
    finally:
        embedder.close()
    assert fake_llm.last.path == "v1/embeddings" and "authorization" not in fake_llm.last.headers


@pytest.mark.parametrize("tail", ["/", "/embeddings", "/embeddings/"])
def test_a_trailing_slash_or_the_whole_embeddings_url_is_the_same_endpoint(
    fake_llm: Script, tail: str
) -> None:
    embedder = OpenAIEmbedder(model="e", base_url=fake_llm.base_url + tail, api_key=KEY, dim=16)
    try:
        assert embedder.embed(["green tea"]).shape == (1, 16)
    finally:
        embedder.close()
    assert fake_llm.last.path == "v1/embeddings"


@pytest.fixture
async def azure() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Azure OpenAI's embeddings route on loopback: ``POST /openai/deployments/{d}/embeddings
    ?api-version=V`` with an ``api-key`` header; answers the fake's vectors, last input first."""
    seen: list[dict[str, Any]] = []

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"path": request.path, "query": dict(request.query), "headers": dict(request.headers),
                     "body": body})  # fmt: skip
        rows = [{"index": i, "embedding": fake_vector(t, 16)} for i, t in enumerate(body["input"])]
        return web.json_response({"object": "list", "data": rows[::-1]})

    app = web.Application()
    app.router.add_post("/openai/deployments/{name}/embeddings", embeddings)
    async with serving(app) as url:
        yield url, seen


@pytest.mark.parametrize(
    "path",
    ["/openai/deployments/emb-prod/embeddings?api-version=2024-06-01", "/openai/deployments/emb-prod/"],
)
async def test_an_azure_deployment_url_is_called_at_its_route_with_its_api_key_header(
    azure: tuple[str, list[dict[str, Any]]], path: str
) -> None:
    url, seen = azure
    embedder = OpenAIEmbedder(model="emb-prod", base_url=url + path, api_key=KEY, dim=16)
    try:
        vectors = await asyncio.to_thread(embedder.embed, ["I keep bees", "green tea"])
    finally:
        embedder.close()
    assert np.allclose(vectors, [_unit("I keep bees", 16), _unit("green tea", 16)], atol=1e-5)
    (sent,) = seen
    assert sent["path"] == "/openai/deployments/emb-prod/embeddings"
    assert sent["query"] == {"api-version": "2024-06-01" if "?" in path else "2024-10-21"}
    assert sent["headers"]["api-key"] == KEY and "Authorization" not in sent["headers"]
    assert sent["body"] == {"input": ["I keep bees", "green tea"]}


async def test_azures_key_variable_goes_only_to_azures_hosts(azure: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = azure
    gateway = OpenAIEmbedder(  # a gateway in front of Azure, on a host of its own
        model="emb-prod",
        base_url=f"{url}/openai/deployments/emb-prod",
        dim=16,
        env={"AZURE_OPENAI_API_KEY": KEY},
    )
    try:
        await asyncio.to_thread(gateway.embed, ["I keep bees"])
    finally:
        gateway.close()
    assert "api-key" not in seen[-1]["headers"]
    resource = OpenAIEmbedder(
        model="emb-prod",
        base_url="https://r.openai.azure.com/openai/",
        dim=16,
        env={"AZURE_OPENAI_API_KEY": KEY},
    )
    assert resource.base_url == "https://r.openai.azure.com"  # the resource endpoint, /openai dropped
    resource.close()


def test_a_batch_over_the_providers_limit_is_split_and_the_size_that_worked_kept(fake_llm: Script) -> None:
    """DashScope takes 10 texts a request; a batch of 64 was refused (400) and the add failed."""
    texts = [f"text {i}" for i in range(8)]
    embedder = OpenAIEmbedder(model="e", base_url=fake_llm.base_url, api_key=KEY, dim=16, batch_size=4)
    try:
        fake_llm.fail(400, message="batch size is invalid, it should not be larger than 2")
        vectors = embedder.embed(texts[:4])
        assert np.allclose(vectors, [_unit(t, 16) for t in texts[:4]], atol=1e-5)
        embedder.embed(texts[4:])
        assert [r.json["input"] for r in fake_llm.requests] == [
            texts[:4], texts[:2], texts[2:4], texts[4:6], texts[6:]
        ]  # fmt: skip
        fake_llm.fail(400, message="input is longer than the model's context length")
        with pytest.raises(BackendUnavailableError, match="HTTP 400"):  # one input's fault: not split
            embedder.embed(["a very long text", "a short one"])
        assert len(fake_llm.requests) == 6
        fake_llm.fail(413, message="request entity too large")
        assert embedder.embed(["a", "b"]).shape == (2, 16)
        assert [r.json["input"] for r in fake_llm.requests[6:]] == [["a", "b"], ["a"], ["b"]]
    finally:
        embedder.close()
