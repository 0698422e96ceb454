"""The ``memoryd`` command line (``memoryd = memoryd.cli:main``).

The commands live in :mod:`memoryd.cli.commands`, rendering in
:mod:`memoryd.cli.output` and the ``doctor`` checks in :mod:`memoryd.cli.doctor`.
They load inside :func:`main`, so that Ctrl-C while they do (about half a second)
ends as Ctrl-C in a command does: "interrupted" on stderr, exit 130, no traceback.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memoryd.cli.commands import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    try:
        from memoryd.cli.commands import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from memoryd.cli.commands import app as typer_app

        return typer_app
    raise AttributeError(f"module 'memoryd.cli' has no attribute {name!r}")
