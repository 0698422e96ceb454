"""What the Compose stack and its image must agree on, beyond tests/deploy/test_stack.py: the
environment as the ``memoryd config show`` command reads it (the commented LLM lines too, as a
user uncomments them), the flags each container's commands pass, the published port, the data
volume and the account, and base images pinned to a version."""

from __future__ import annotations

import json
import re
from pathlib import Path

from memoryd import load_settings
from tests.deploy.test_stack import DEPLOY, MEMORYD_SERVICES, _compose, _dockerfile, _env_of, _run


def _commented_env() -> dict[str, str]:
    """The MEMORYD_* lines compose.yaml leaves commented for the user to turn on."""
    found: dict[str, str] = {}
    for line in (DEPLOY / "compose.yaml").read_text().splitlines():
        match = re.fullmatch(r"\s*#\s*(MEMORYD_[A-Z0-9_]+):\s*(\S.*)", line)
        if match:
            found[match[1]] = re.sub(r"\$\{\w+\}", "sk-from-the-host", match[2].strip().strip("\"'"))
    return found


def _instruction(name: str) -> list[str]:
    return [args for instruction, args in _dockerfile() if instruction == name]


def test_config_show_takes_every_variable_of_each_container_and_the_commented_ones(tmp_path: Path) -> None:
    extra = _commented_env()
    assert {"MEMORYD_LLM__PROVIDER", "MEMORYD_LLM__MODEL", "MEMORYD_LLM__API_KEY"} <= set(extra)
    for service in MEMORYD_SERVICES:
        env = {**_env_of(service), **extra, "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db")}
        shown = _run(["memoryd", "config", "show"], env)
        assert shown.returncode == 0, (service, shown.stderr)  # an unknown MEMORYD_* name exits 2
        for name in env:
            assert f"# env {name}" in shown.stdout, (service, name)  # read, not ignored
        settings = load_settings(env=env)
        assert settings.llm is not None and settings.llm.provider == "openai"


def test_every_flag_the_containers_pass_is_one_memoryd_has() -> None:
    services = _compose()["services"]
    commands = [_exec_form(args) for args in _instruction("CMD")]
    commands.append(_exec_form(_instruction("HEALTHCHECK")[0].split(" CMD ", 1)[1]))
    for name in MEMORYD_SERVICES:
        commands.append(services[name]["healthcheck"]["test"][1:])
        if "command" in services[name]:
            commands.append(services[name]["command"])
    assert len(commands) == 5
    for command in commands:
        assert command[0] == "memoryd", command
        words = [w for w in command[1:] if not w.startswith("-")]
        flags = [w.split("=", 1)[0] for w in command[1:] if w.startswith("--")]
        helped = _run(["memoryd", *words, "--help"], {"COLUMNS": "200", "NO_COLOR": "1"})
        assert helped.returncode == 0, (command, helped.stderr)
        for flag in flags:
            assert re.search(rf"{re.escape(flag)}\b", helped.stdout), (command, flag)


def _exec_form(form: str) -> list[str]:
    """An exec-form instruction's argument list (``["memoryd", "serve"]``)."""
    words = re.findall(r'"((?:[^"\\]|\\.)*)"', form)
    assert form.strip().startswith("[") and words, form
    return words


def test_the_published_port_is_the_one_the_server_listens_on() -> None:
    services = _compose()["services"]
    settings = load_settings(env=_env_of("memoryd"))
    (published,) = services["memoryd"]["ports"]
    assert str(published).rsplit(":", 1)[1] == str(settings.server.port)
    assert _instruction("EXPOSE") == [str(settings.server.port)]
    assert "ports" not in services["worker"]  # a worker serves nothing


def test_the_store_lives_on_the_volume_and_the_account_is_not_root() -> None:
    services = _compose()["services"]
    (volume,) = _instruction("VOLUME")
    (data,) = _exec_form(volume)
    for name in MEMORYD_SERVICES:
        settings = load_settings(env=_env_of(name))
        mounts = {m.split(":")[1]: m.split(":")[0] for m in services[name]["volumes"]}
        assert mounts == {data: "memoryd-data"}, name  # the server and its workers share one store
        assert settings.storage.path.parent == Path(data)  # and keys.db beside it
        assert "user" not in services[name] or services[name]["user"] not in ("root", "0")
    (user,) = _instruction("USER")
    assert user not in ("root", "0")
    account = next(a for i, a in _dockerfile() if i == "RUN" and "useradd" in a)
    assert f"--home-dir {data}" in account and account.rstrip().endswith(user)  # owns the volume
    assert _instruction("WORKDIR")[-1] == data
    assert set(_compose()["volumes"]) == {"memoryd-data", "redis-data", "qdrant-data"}


def test_every_image_is_pinned_to_a_version() -> None:
    (base,) = _instruction("FROM")
    images = [base] + [s["image"] for n, s in _compose()["services"].items() if n not in MEMORYD_SERVICES]
    for image in images:
        name, _, tag = image.partition(":")
        assert re.match(r"v?\d+(\.\d+)+", tag), f"{image}: not pinned to a version"


def test_the_commands_the_readme_and_compose_yaml_run_in_the_container_work(tmp_path: Path) -> None:
    texts = [(DEPLOY / "compose.yaml").read_text(), (DEPLOY.parent / "README.md").read_text()]
    pattern = r"docker compose -f deploy/compose\.yaml exec (?:-T )?memoryd (memoryd [^|\\\n)]*)"
    commands = {c.strip() for text in texts for c in re.findall(pattern, text)}
    assert "memoryd keys create --role admin" in commands, commands
    for command in sorted(commands):
        env = {**_env_of("memoryd"), "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db")}
        done = _run(command.split(), env)
        assert done.returncode == 0, (command, done.stderr)
        if "--json" in command:
            assert json.loads(done.stdout)["key"].startswith("mdk_")
    assert (tmp_path / "keys.db").exists()  # beside the store, on the volume the server reads
