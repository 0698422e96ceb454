"""``memoryd doctor`` names the fix that fits: an embeddings server answering 200 with no usable
embeddings (its model is not an embedding model, or the URL is another server's), and a store
built by another model (`memoryd reindex` moves it to the configured one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, load_settings
from tests.cli.conftest import Run, as_json
from tests.cli.test_doctor import TinyEmbedder, session_model  # noqa: F401 - the fixture
from tests.fakes.llm_server import Reply, Script, embedding_inputs, embeddings_body, fake_vector


@pytest.fixture
def server(fake_llm_factory: Callable[[], Script]) -> Script:
    """A script of this test's own: a URL no earlier test's embedder learnt a dimension from."""
    script = fake_llm_factory()
    script.embedding_dim = 4
    return script


def _embedder_env(server: Script) -> dict[str, str]:
    return {
        "MEMORYD_EMBEDDER__PROVIDER": "openai",
        "MEMORYD_EMBEDDER__MODEL": "chat-model-not-embeddings",
        "MEMORYD_EMBEDDER__BASE_URL": server.base_url,
        "MEMORYD_EMBEDDER__API_KEY": "sk-test",
    }


def _check(run: Run, name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run("doctor", "--json", env=env)
    return next(c for c in as_json(result)["checks"] if c["name"] == name)


_ERROR_OBJECT = {"error": {"message": "this model does not support embeddings", "type": "invalid_request"}}
_HTML = "<!doctype html><html><head><title>Welcome</title></head><body>hi</body></html>"


def _first_only(payload: Any) -> Reply:
    return Reply(body=embeddings_body([fake_vector(t, 4) for t in embedding_inputs(payload)[:1]]))


@pytest.mark.parametrize(
    "answer",
    [
        Reply(body=_ERROR_OBJECT),  # an error object, with 200
        Reply(raw=_HTML, headers={"content-type": "text/html"}),  # a web page, not an API
        Reply(respond=_first_only),  # one vector for two texts
    ],
    ids=["error-object", "html-page", "wrong-count"],
)
def test_a_200_without_usable_embeddings_names_the_model_and_the_url(
    run: Run, server: Script, answer: Reply
) -> None:
    server.push(answer, times=10)
    check = _check(run, "embedder", _embedder_env(server))
    assert check["status"] == "fail", check
    fix = check["fix"]
    assert fix.startswith("the server answered but not with usable embeddings: check embedder.model"), fix
    assert "'chat-model-not-embeddings'" in fix and "an embedding model" in fix, fix
    assert f"embedder.base_url ({server.base_url})" in fix and "the embeddings server" in fix, fix


def test_a_server_answering_an_error_status_keeps_its_own_fix(run: Run, server: Script) -> None:
    server.reply_body({"error": {"message": "bad request"}}, status=400, times=10)
    fix = _check(run, "embedder", _embedder_env(server))["fix"]
    assert not fix.startswith("the server answered but not with usable embeddings"), fix


def _build_with_tiny(db_path: Path, texts: list[str]) -> None:
    async def build() -> None:
        settings = load_settings(env={}, overrides={"storage": {"path": str(db_path)}})
        async with AsyncMemory(settings, embedder=TinyEmbedder()) as mem:
            for text in texts:
                await mem.add(text, user_id="alice")

    asyncio.run(build())


@pytest.mark.usefixtures("session_model")
def test_a_store_of_another_model_names_reindex_beside_a_new_store(run: Run, db_path: Path) -> None:
    _build_with_tiny(db_path, ["built with the tiny embedder"])
    store = _check(run, "store")
    assert store["status"] == "fail"
    fix = store["fix"]
    assert "point storage.path at a new file" in fix, fix
    assert "`memoryd reindex`" in fix and "re-embed" in fix, fix
    # and the fix works: reindex moves the store to the configured model, doctor then passes it
    assert run("reindex").exit_code == 0
    assert _check(run, "store")["status"] == "ok"
