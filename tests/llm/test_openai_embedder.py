"""The ``openai`` embedder against the fake /v1/embeddings, alone and inside AsyncMemory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.embedders import Embedder
from memoryd.embedders.base import close_embedder, embedder_identity, make_embedder
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.errors import BackendUnavailableError, ConfigError, EmbedderMismatchError
from memoryd.pipeline.local_redis import free_port
from memoryd.registry import resolve
from tests.fakes.llm_server import Script, fake_vector
from tests.llm.conftest import KEY


def test_unit_vectors_batches_and_name(fake_llm: Script) -> None:
    fake_llm.embedding_dim = 24
    embedder = OpenAIEmbedder(model="nomic-embed-text", base_url=fake_llm.base_url, api_key=KEY, batch_size=2)
    assert isinstance(embedder, Embedder)
    assert embedder.name == "openai:nomic-embed-text" and embedder.dim == 24  # learnt from one probe
    texts = ["I live in Lisbon", "我住在北京", "", "green tea"]
    vectors = embedder.embed(texts)
    assert vectors.shape == (4, 24) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    raw = np.asarray(fake_vector("I live in Lisbon", 24))
    assert abs(np.linalg.norm(raw) - 1.0) > 0.1  # the server's vectors were not unit length
    assert np.allclose(vectors[0], raw / np.linalg.norm(raw), atol=1e-5)
    posts = [r for r in fake_llm.requests if r.path == "v1/embeddings"]
    assert [r.json["input"] for r in posts[1:]] == [["I live in Lisbon", "我住在北京"], [" ", "green tea"]]
    assert all(r.json["model"] == "nomic-embed-text" for r in posts)
    assert posts[0].headers["authorization"] == f"Bearer {KEY}"
    assert embedder.embed([]).shape == (0, 24)
    embedder.close()


def test_configured_dim_needs_no_probe_and_a_mismatch_is_named(fake_llm: Script) -> None:
    embedder = OpenAIEmbedder(model="m", base_url=fake_llm.base_url, dim=32, env={"OPENAI_API_KEY": KEY})
    assert embedder.dim == 32 and fake_llm.requests == []
    with pytest.raises(BackendUnavailableError, match="returned 16-d vectors, expected 32") as info:
        embedder.embed(["x"])  # the server's reply, at run time: the backend is unusable (503)
    assert not isinstance(info.value, ConfigError) and info.value.field == "embedder.dim"
    assert info.value.status_code == 503
    assert "authorization" not in fake_llm.last.headers  # OPENAI_API_KEY only goes to api.openai.com
    embedder.close()


def test_transient_errors_are_retried_and_others_named(fake_llm: Script) -> None:
    embedder = OpenAIEmbedder(model="m", base_url=fake_llm.base_url, dim=16)
    fake_llm.fail(429, retry_after=0.05)
    assert embedder.embed(["x"]).shape == (1, 16)
    assert len(fake_llm.requests) == 2
    embedder.close()
    fake_llm.fail(401, message=f"bad key {KEY}")
    keyed = OpenAIEmbedder(model="m", base_url=fake_llm.base_url, api_key=KEY, dim=16)
    with pytest.raises(BackendUnavailableError, match="HTTP 401") as info:
        keyed.embed(["x"])
    assert KEY not in info.value.message and len(fake_llm.requests) == 3  # a 401 is not retried
    keyed.close()


def test_registry_factory_and_identity_come_from_config(fake_llm: Script) -> None:
    fake_llm.embedding_dim = 8
    settings = load_settings(
        env={},
        overrides={"embedder": {"provider": "openai", "model": "probe-me", "base_url": fake_llm.base_url}},
    )
    factory = resolve("embedder", "openai")
    assert embedder_identity(factory, settings.embedder) == ("openai:probe-me", 8)
    embedder = make_embedder(factory, settings.embedder)
    assert (embedder.name, embedder.dim) == ("openai:probe-me", 8)
    assert len(fake_llm.requests) == 1  # the dimension probe is cached per endpoint and model
    close_embedder(embedder)
    missing = load_settings(env={}, overrides={"embedder": {"provider": "openai"}})
    with pytest.raises(ConfigError, match="needs embedder.model"):
        embedder_identity(factory, missing.embedder)


async def test_async_memory_with_the_openai_embedder_and_model_switch_refused(
    fake_llm: Script, tmp_path: Path
) -> None:
    path = str(tmp_path / "m.db")

    def settings(model: str) -> object:
        return load_settings(
            env={},
            overrides={
                "storage": {"path": path},
                "embedder": {"provider": "openai", "model": model, "base_url": fake_llm.base_url, "dim": 16},
            },
        )

    async with AsyncMemory(settings("embed-a")) as mem:  # type: ignore[arg-type]
        await mem.add("I adopted a golden retriever named Biscuit", user_id="ana")
        hits = await mem.search("I adopted a golden retriever named Biscuit", user_id="ana")
        assert hits and hits[0].memory.text.startswith("I adopted")
    with pytest.raises(EmbedderMismatchError, match="openai:embed-a") as refused:
        async with AsyncMemory(settings("embed-b")):  # type: ignore[arg-type]
            pass
    assert refused.value.field == "embedder" and "embedder.model" in refused.value.message  # what changed


def connections_to(port: int) -> int:
    """This process's open TCP sockets whose peer is loopback ``port`` (from /proc)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed while listing
        if link.startswith("socket:["):
            mine.add(link[len("socket:[") : -1])
    with open("/proc/self/net/tcp", encoding="ascii") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for r in rows if int(r[2].rsplit(":", 1)[1], 16) == port and r[9] in mine)


async def test_closing_the_memory_closes_the_embedder_it_made(fake_llm: Script, tmp_path: Path) -> None:
    port = urlsplit(fake_llm.base_url).port
    assert port is not None
    before = connections_to(port)
    settings = load_settings(
        env={},
        overrides={
            "storage": {"path": str(tmp_path / "m.db")},
            "embedder": {"provider": "openai", "model": "emb", "base_url": fake_llm.base_url, "dim": 16},
        },
    )
    async with AsyncMemory(settings) as mem:
        await mem.add("I adopted a golden retriever named Biscuit", user_id="ana")
        assert connections_to(port) == before + 1  # the embedder keeps its connection for the next call
    assert connections_to(port) == before


async def test_a_store_on_a_remote_model_opens_for_reads_while_that_model_is_down(
    fake_llm: Script, tmp_path: Path
) -> None:
    """No embedder.dim: the size is asked of the endpoint, which is down; the store opens with the
    size it recorded, reads work, and what needs the model fails as the model being down."""
    path = str(tmp_path / "m.db")

    def settings(base_url: str) -> Any:
        embedder = {"provider": "openai", "model": "down-later", "base_url": base_url}
        return load_settings(env={}, overrides={"storage": {"path": path}, "embedder": embedder})

    async with AsyncMemory(settings(fake_llm.base_url)) as mem:
        await mem.add("I keep bees on the roof", user_id="ana")
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    async with AsyncMemory(settings(down)) as mem:
        assert [m.text for m in (await mem.get_all(user_id="ana")).items] == ["I keep bees on the roof"]
        with pytest.raises(BackendUnavailableError):
            await mem.search("bees", user_id="ana")
    with pytest.raises(BackendUnavailableError):  # a new store has no recorded size to fall back on
        await AsyncMemory(settings(down).model_copy(update={"storage": settings(down).storage.model_copy(
            update={"path": tmp_path / "new.db"})})).open()  # fmt: skip


def test_doctor_says_an_embeddings_server_answered_and_names_it_when_down(fake_llm: Script) -> None:
    """doctor said a server's model was "loaded offline", and told to reinstall packages when the
    server was down."""
    from memoryd.cli.doctor import embedder_check

    fake_llm.embedding_dim = 8
    up = load_settings(env={}, overrides={"embedder": {"provider": "openai", "model": "m", "base_url": fake_llm.base_url}})
    check, _ = embedder_check(up)
    assert check.status == "ok" and f"answered from {fake_llm.base_url}" in check.detail
    assert "offline" not in check.detail
    down_url = f"http://127.0.0.1:{free_port()}/v1"
    down = load_settings(env={}, overrides={"embedder": {"provider": "openai", "model": "m", "base_url": down_url}})
    check, _ = embedder_check(down)
    assert check.status == "fail" and "embeddings server" in str(check.fix) and "reinstall" not in str(check.fix)


def test_an_embeddings_server_answering_with_another_size_is_a_503_naming_embedder_dim(
    fake_llm: Script, tmp_path: Path
) -> None:
    import httpx

    from memoryd.server import create_app
    from tests.api.conftest import running_app

    embedder = {"provider": "openai", "model": "m", "base_url": fake_llm.base_url, "dim": 16}
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}, "embedder": embedder})
    memory = AsyncMemory(settings)
    with running_app(create_app(settings, memory=memory), after=memory.close) as url:
        added = httpx.post(f"{url}/v1/memories", json={"messages": "I keep bees", "user_id": "ana"}, timeout=30)
        assert added.status_code == 200, added.text
        fake_llm.embedding_dim = 24  # the server now serves another model
        found = httpx.post(f"{url}/v1/memories/search", json={"query": "bees", "user_id": "ana"}, timeout=30)
    assert found.status_code == 503, found.text
    error = found.json()["error"]
    assert error["code"] != "config_error" and error["field"] == "embedder.dim", error
    assert "returned 24-d vectors, expected 16" in error["message"]


@pytest.mark.parametrize(
    ("case", "fix"),
    [
        ("no model", "set embedder.model (MEMORYD_EMBEDDER__MODEL)"),
        ("401", "check the API key: embedder.api_key (MEMORYD_EMBEDDER__API_KEY); none is set"),
        ("404", "check embedder.model ('m') and embedder.base_url"),
        ("dim", "set embedder.dim (MEMORYD_EMBEDDER__DIM) to the model's size"),
    ],
)
def test_doctor_names_the_embedder_setting_to_fix(fake_llm: Script, case: str, fix: str) -> None:
    """doctor told to pick another embedder.provider for any config error, and to check the server
    is up for a server that answered 401 or 404."""
    from memoryd.cli.doctor import embedder_check

    section: dict[str, Any] = {"provider": "openai", "model": "m", "base_url": fake_llm.base_url}
    if case == "no model":
        del section["model"]
    elif case == "dim":
        section["dim"] = 32  # the server answers 16-d vectors
    else:
        fake_llm.fail(int(case), message="refused")
    check, embedder = embedder_check(load_settings(env={}, overrides={"embedder": section}))
    assert check.status == "fail" and embedder is None
    assert check.fix is not None and check.fix.startswith(fix), check.fix
    assert "embedder.provider" not in check.fix and "is up" not in check.fix and "running" not in check.fix
