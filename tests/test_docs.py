"""Documentation is tested: settings, CLI commands, routes and public names are all documented."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel

import memoryd
from memoryd.cli.reference import render
from memoryd.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _readme_config() -> dict:
    block = re.search(r"```toml\n(.*?)```", README, re.S)
    assert block, "README has no TOML configuration block"
    return tomllib.loads(block.group(1))


def test_every_setting_is_in_the_readme_config_block() -> None:
    documented = _readme_config()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        assert section in documented, f"[{section}] missing from README"
        for key in model.model_fields:
            assert key in documented[section], f"{section}.{key} missing from README"


def test_readme_config_block_is_valid_config(tmp_path: Path) -> None:
    f = tmp_path / "readme.toml"
    f.write_text(re.search(r"```toml\n(.*?)```", README, re.S).group(1))  # type: ignore[union-attr]
    from memoryd.config import load_settings

    load_settings(f, env={})


def test_cli_reference_is_generated_from_the_commands() -> None:
    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/cli.md is stale: python -m memoryd.cli.reference > docs/cli.md"


def test_every_cli_command_is_in_the_readme_or_reference() -> None:
    reference = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for title in re.findall(r"^## `(memoryd[^`]*)`", reference, re.M):
        assert title in reference
    for command in ("serve", "add", "search", "list", "get", "delete", "history", "doctor", "config show"):
        assert f"## `memoryd {command}`" in reference


def test_every_public_name_is_in_the_api_reference() -> None:
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in memoryd.__all__:
        assert f"`{name}" in api, f"{name} missing from docs/api.md"


def test_readme_starts_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)  # type: ignore[union-attr]
    assert first_block.splitlines()[0].startswith("make serve")
    assert first_block.splitlines()[1].startswith("make test")


def test_every_route_is_in_the_http_reference() -> None:
    from memoryd.server import create_app

    http = (ROOT / "docs" / "http.md").read_text(encoding="utf-8")
    for path, operations in create_app().openapi()["paths"].items():
        for method in operations:
            assert f"| `{method.upper()}` | `{path}` |" in http, f"{method.upper()} {path} missing from docs/http.md"


def test_the_readmes_first_python_example_runs_as_a_script(tmp_path: Path) -> None:
    """What a new user pastes into a file: it runs, with nothing but a store path set."""
    import os
    import subprocess
    import sys

    block = re.search(r"```python\n(.*?)```", README, re.S)
    assert block, "README has no Python example"
    script = tmp_path / "example.py"
    script.write_text(block.group(1), encoding="utf-8")
    env = {**os.environ, "MEMORYD_STORAGE__PATH": str(tmp_path / "store.db")}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ADD" in done.stdout and "I prefer window seats" in done.stdout


def test_no_help_text_holds_square_brackets() -> None:
    """``--help`` renders with rich, which takes ``[word]`` for markup and drops it."""
    import click
    import typer

    from memoryd.cli import app

    def walk(cmd: click.Command, path: str) -> list[str]:
        texts = [(f"{path}: {cmd.help}", cmd.help or "")]
        texts += [(f"{path} {p.name}: {getattr(p, 'help', '')}", getattr(p, "help", "") or "") for p in cmd.params]
        found = [where for where, text in texts if re.search(r"\[[^\]\s]+\]", text)]
        for name, sub in getattr(cmd, "commands", {}).items():
            found += walk(sub, f"{path} {name}")
        return found

    assert walk(typer.main.get_command(app), "memoryd") == []


def test_every_command_is_listed_with_a_one_line_summary() -> None:
    """``memoryd --help`` lists each command with the first paragraph of its help: one line, so
    the list does not break mid-sentence."""
    import click
    import typer

    from memoryd.cli import app

    def walk(cmd: click.Command, path: str) -> list[str]:
        found = []
        for name, sub in getattr(cmd, "commands", {}).items():
            summary = (sub.short_help or sub.help or "").strip().split("\n\n")[0]
            if "\n" in summary:
                found.append(f"{path} {name}: {summary!r}")
            found += walk(sub, f"{path} {name}")
        return found

    assert walk(typer.main.get_command(app), "memoryd") == []
