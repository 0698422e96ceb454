"""A PostgreSQL server that answers but is not set up for memoryd: each refusal says what is
wrong and what to do, and ``memoryd check`` never offers a reindex that would stop on it. Each
test makes a database (and a role) of its own on the test server, dropped at the end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from memoryd.config import Settings, load_settings
from memoryd.errors import StorageError
from memoryd.maintenance.check import check_store
from tests.storage.helpers import MODEL, opened
from tests.storage.postgres_server import postgres_url, table_for


def _url(user: str, password: str | None, dbname: str, **options: str) -> str:
    """The test server's URL as ``user`` on ``dbname`` (its host, port and other parameters kept)."""
    params = {k: str(v) for k, v in conninfo_to_dict(postgres_url()).items()}
    for key in ("user", "password", "dbname"):
        params.pop(key, None)
    params.update(options)
    auth = user if password is None else f"{user}:{password}"
    return f"postgresql://{auth}@/{dbname}?{urlencode(params, quote_via=quote)}"


def _admin(sql: str, dbname: str | None = None) -> None:
    params = conninfo_to_dict(postgres_url())
    if dbname is not None:
        params["dbname"] = dbname
    with psycopg.connect(**params, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture
def fresh_db() -> Iterator[str]:
    """A new database (the server's superuser is needed to make roles and set paths)."""
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        if not (row and row[0]):
            pytest.skip("the test server's user is not a superuser")
    name = f"memoryd_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _settings(tmp: Path, url: str) -> Settings:
    section = {"url": url, "table": table_for(tmp), "timeout": 5}
    overrides = {"storage": {"path": str(tmp / "m.db"), "vectors": "postgres", "postgres": section}}
    return load_settings(env={}, overrides=overrides)


async def _refusal(settings: Settings) -> StorageError:
    with pytest.raises(StorageError) as err:
        async with opened(settings, MODEL):
            pass
    return err.value


async def test_a_user_who_may_not_create_tables_is_told_so_not_that_pgvector_is_missing(
    fresh_db: str, tmp_path: Path
) -> None:
    """pgvector is there (made by the superuser); the user lacks CREATE on the schema, as every
    user but the database's owner does by default since PostgreSQL 15."""
    role = f"r_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    try:
        _admin("CREATE EXTENSION vector", fresh_db)
        _admin("REVOKE CREATE ON SCHEMA public FROM PUBLIC", fresh_db)
        settings = _settings(tmp_path, _url(role, "pw", fresh_db))
        err = await _refusal(settings)
        assert err.field == "storage.postgres.url"
        assert "pgvector" not in err.message and "permission denied for schema public" in err.message
        assert "GRANT CREATE ON SCHEMA" in err.message
        [problem] = (await check_store(settings, embedder=None)).problems
        assert problem.role == "vectors" and "reindex`" not in problem.fix, problem.fix
        assert "storage.postgres.url" in problem.fix
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{fresh_db}" WITH (FORCE)')
        _admin(f"DROP ROLE IF EXISTS {role}")


async def test_a_server_without_pgvector_says_to_install_it(fresh_db: str, tmp_path: Path) -> None:
    """No extension is found where the server looks (PostgreSQL 18's extension_control_path
    pointed at an empty folder: the server as one without pgvector installed)."""
    with psycopg.connect(postgres_url()) as conn:
        if conn.info.server_version < 180000:
            pytest.skip("extension_control_path needs PostgreSQL 18")
    empty = tmp_path / "no-extensions"
    empty.mkdir()
    admin = conninfo_to_dict(postgres_url())
    user, password = str(admin.get("user") or "postgres"), admin.get("password")
    url = _url(
        user, str(password) if password else None, fresh_db, options=f"-c extension_control_path={empty}"
    )
    settings = _settings(tmp_path, url)
    err = await _refusal(settings)
    assert err.field == "storage.postgres.url"
    assert 'extension "vector" is not available' in err.message and "install the pgvector" in err.message
    [problem] = (await check_store(settings, embedder=None)).problems
    assert problem.role == "vectors" and "reindex`" not in problem.fix, problem.fix


async def test_a_user_who_may_not_create_the_extension_is_told_so(fresh_db: str, tmp_path: Path) -> None:
    role = f"r_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    try:
        _admin(f'ALTER DATABASE "{fresh_db}" OWNER TO {role}')  # its tables it may make; not pgvector
        settings = _settings(tmp_path, _url(role, "pw", fresh_db))
        err = await _refusal(settings)
        assert "lacks the pgvector extension" in err.message and "CREATE EXTENSION vector" in err.message
        [problem] = (await check_store(settings, embedder=None)).problems
        assert problem.role == "vectors" and "reindex`" not in problem.fix, problem.fix
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{fresh_db}" WITH (FORCE)')
        _admin(f"DROP ROLE IF EXISTS {role}")
