"""Generate the CLI reference (docs/cli.md) from the commands' own help.

``python -m memoryd.cli.reference > docs/cli.md`` rewrites it; a test fails
when the committed file and the commands drift apart.
"""

from __future__ import annotations

from typing import Any

import typer

from memoryd.cli.commands import app
from memoryd.cli.usage import COMMAND_EPILOG

__all__ = ["render"]


# typer vendors its own click, so commands are inspected by duck typing.
def _params(cmd: Any) -> list[str]:
    lines = []
    for p in cmd.params:
        if p.param_type_name == "argument":
            lines.append(f"- `{(p.metavar or p.name or '').upper()}` (argument)")
            continue
        if p.param_type_name != "option" or getattr(p, "hidden", False):
            continue
        names = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
        help_text = " ".join((p.help or "").split())
        lines.append(f"- {names}: {help_text}".rstrip(": "))
    return lines


def _walk(cmd: Any, path: list[str], out: list[str]) -> None:
    title = " ".join(path)
    out.append(f"## `{title}`\n")
    doc = " ".join((cmd.help or cmd.short_help or "").split())
    if doc:
        out.append(doc + "\n")
    params = _params(cmd)
    if params:
        out.extend(params)
        out.append("")
    epilog = " ".join((getattr(cmd, "epilog", None) or "").split())
    if epilog and epilog != COMMAND_EPILOG:  # each command's line on the exit status: said once, above
        out.append(epilog + "\n")
    if hasattr(cmd, "commands"):
        for name in sorted(cmd.commands):
            _walk(cmd.commands[name], [*path, name], out)


def render() -> str:
    root = typer.main.get_command(app)
    out = [
        "# memoryd command-line reference",
        "",
        "Generated from the commands' help by `python -m memoryd.cli.reference`; "
        "every command also answers `--help`.",
        "",
    ]
    _walk(root, ["memoryd"], out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
