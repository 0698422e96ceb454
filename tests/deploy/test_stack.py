"""The Docker Compose stack (``deploy/``), checked without a Docker daemon or an image registry
(neither is reachable here): what mem0's deployment report found broken at start-up is what
these tests would catch — a COPY path outside the build context, a health check calling a tool
its image lacks, an environment variable no setting reads, a backend whose driver the image
does not install. What needs the daemon (pulling the base images, building, running) is not
tested here; every command the containers run is, on this machine, against real servers."""

from __future__ import annotations

import http.server
import json
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from memoryd import load_settings
from memoryd.cli.probe import probe_url, ready
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MEMORYD_SERVICES = ("memoryd", "worker")


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Dockerfile, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        instruction, _, args = line.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def _copied() -> list[str]:
    """The build-context paths the Dockerfile copies."""
    sources: list[str] = []
    for instruction, args in _dockerfile():
        if instruction == "COPY":
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            sources += parts[:-1]
    return sources


def _context() -> Path:
    build = _compose()["services"]["memoryd"]["build"]
    return (DEPLOY / build["context"]).resolve()


def _env_of(service: str) -> dict[str, str]:
    """A memoryd container's MEMORYD_* environment: the image's ENV, then the service's."""
    env: dict[str, str] = {}
    for instruction, args in _dockerfile():
        if instruction == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value
    service_env = _compose()["services"][service].get("environment", {})
    env.update({k: str(v) for k, v in service_env.items()})
    return {k: v for k, v in env.items() if k.startswith("MEMORYD_")}


def test_the_compose_build_context_is_the_repository_and_names_this_dockerfile() -> None:
    build = _compose()["services"]["memoryd"]["build"]
    assert _context() == ROOT
    assert (_context() / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    images = {s.get("image") for name, s in _compose()["services"].items() if name in MEMORYD_SERVICES}
    assert images == {"memoryd:local"}  # the worker runs the image the server's build made


def test_every_copied_path_is_in_the_build_context_and_not_ignored() -> None:
    sources = _copied()
    assert sources, "the Dockerfile copies nothing"
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    ignore = [line for line in ignore if line and not line.startswith("#")]
    assert ignore[0] == "*"  # everything is left out, but what is named again below
    for source in sources:
        assert (_context() / source).exists(), f"COPY {source}: not in the build context"
        assert f"!{source.rstrip('/')}" in ignore or f"!{source.rstrip('/')}/" in ignore, source


def test_the_copied_files_are_all_that_building_memoryd_reads(tmp_path: Path) -> None:
    # Build the wheel from a folder holding only what the Dockerfile copies: a file pip needs
    # and the image lacks (the readme pyproject names, say) fails here as it would there.
    context = tmp_path / "context"
    for source in _copied():
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (context / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, context / source)
    wheels = tmp_path / "wheels"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)]
    done = subprocess.run([*command, str(context)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = wheels.glob("memoryd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "memoryd").rglob("*.py")}
    assert modules <= names, sorted(modules - names)[:5]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "memoryd = memoryd.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    first_line = (ROOT / "README.md").read_text().splitlines()[0]
    assert first_line in metadata  # the readme pyproject names was there (setuptools only warns)


def test_the_environment_of_each_memoryd_container_is_settings_memoryd_reads() -> None:
    for service in MEMORYD_SERVICES:
        env = _env_of(service)
        settings = load_settings(env=env)  # an unknown or misspelled name is a ConfigError
        assert settings.storage.path == Path("/data/memoryd.db")
        assert settings.storage.vectors == "qdrant" and settings.pipeline.enabled
        assert settings.storage.qdrant.url == "http://qdrant:6333"
        assert settings.pipeline.redis_url.get_secret_value() == "redis://redis:6379/0"
        assert settings.server.host == "0.0.0.0"  # noqa: S104 - published by compose


def test_the_image_installs_the_driver_of_every_backend_compose_selects() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    built = _compose()["services"]["memoryd"]["build"]["args"]["EXTRAS"].split(",")
    default = next(a for i, a in _dockerfile() if i == "ARG" and a.startswith("EXTRAS=")).split("=", 1)[1]
    assert set(default.split(",")) == set(built)  # a plain `docker build` makes the same image
    for service in MEMORYD_SERVICES:
        settings = load_settings(env=_env_of(service))
        needed = {settings.storage.vectors, settings.storage.records, settings.storage.graph} - {"sqlite"}
        if settings.pipeline.enabled:
            needed.add(settings.pipeline.backend)
        assert needed <= set(built), f"{service} needs {sorted(needed - set(built))}: not installed"
    for extra in built:
        assert extras.get(extra), f"EXTRAS names {extra!r}, which installs nothing"


def test_health_checks_call_only_what_their_images_have() -> None:
    # What each image ships: memoryd's is python:3.11-slim with memoryd installed (no curl, no
    # wget); redis's has redis-cli; qdrant's has bash and coreutils, not curl (mem0's report).
    has = {"memoryd": {"memoryd", "python"}, "worker": {"memoryd", "python"}, "redis": {"redis-cli"}, "qdrant": {"bash"}}
    services = _compose()["services"]
    assert set(services) == set(has)
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] in has[name], f"{name}: {test}"
        assert not {"curl", "wget"} & set(" ".join(test).split()), f"{name}: {test}"
        if name in MEMORYD_SERVICES:
            assert test[1:3] in (["memoryd", "serve"], ["memoryd", "worker"]) and "--check" in test
    image_check = next(a for i, a in _dockerfile() if i == "HEALTHCHECK")
    assert image_check.endswith('CMD ["memoryd", "serve", "--check"]')
    assert next(a for i, a in _dockerfile() if i == "CMD") == '["memoryd", "serve"]'
    assert services["worker"]["command"] == ["memoryd", "worker"]


def test_the_servers_health_check_command_answers_for_the_running_server(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})
    check = next(s for n, s in _compose()["services"].items() if n == "memoryd")["healthcheck"]["test"][1:]
    with running_server(settings, embedder) as server:
        port = server.url.rsplit(":", 1)[1]
        env = {**_env_of("memoryd"), "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"), "MEMORYD_SERVER__PORT": port}
        up = _run(check, env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"http://127.0.0.1:{port}/health/ready" in up.stdout  # settings say 0.0.0.0: asked on loopback
    down = _run(check, env)
    assert down.returncode == 1 and "no answer" in down.stdout


def test_a_health_check_with_a_bad_setting_exits_1_not_dockers_reserved_2(tmp_path: Path) -> None:
    env = {**_env_of("worker"), "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"), "MEMORYD_STORAGE__QDRANTT__URL": "x"}
    for service in MEMORYD_SERVICES:
        check = _compose()["services"][service]["healthcheck"]["test"][1:]
        done = _run(check, env)
        assert done.returncode == 1, (service, done.returncode, done.stderr)
        assert "storage.qdrantt" in done.stderr  # and says which setting


def test_the_server_check_reads_a_not_ready_answer_as_no(tmp_path: Path) -> None:
    body = {"status": "unavailable", "reason": "storage unavailable: disk I/O error"}
    with _http_answer(503, json.dumps(body)) as port:
        settings = load_settings(env={}, overrides={"server": {"port": port}})
        answer = ready(settings)
    assert not answer.ok and answer.detail == "HTTP 503: storage unavailable: disk I/O error"
    with _http_answer(200, "<html>another program</html>") as port:
        assert not ready(load_settings(env={}, overrides={"server": {"port": port}})).ok
    assert probe_url(load_settings(env={}, overrides={"server": {"host": "::"}})).startswith("http://[::1]:")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_qdrant_health_check_tells_ready_from_not_ready() -> None:
    script = _compose()["services"]["qdrant"]["healthcheck"]["test"][3]
    for status, expected in ((200, 0), (503, 1)):
        with _http_answer(status, "{}") as port:
            done = subprocess.run(["bash", "-c", script.replace("6333", str(port))], timeout=10)
            assert done.returncode == expected, status
    with _free_port() as port:  # nothing listening
        assert subprocess.run(["bash", "-c", script.replace("6333", str(port))], timeout=10).returncode != 0


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / command[0]
    full = {"PATH": str(exe.parent), "HOME": str(Path.home())} | env
    return subprocess.run([str(exe), *command[1:]], capture_output=True, text=True, timeout=60, env=full)


@contextmanager
def _http_answer(status: int, body: str) -> Iterator[int]:
    """A loopback HTTP server answering every GET with ``status`` and ``body``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            data = body.encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _free_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    yield port
