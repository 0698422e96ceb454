"""Tables that fit the terminal: the wide layout where its columns fit, else the compact one.

A rich table wider than the console is not folded but cut: each line loses its last characters,
so the end of a memory's text (``long`` shown as ``lon``) or of the ``why`` of ``search --explain``
vanished without a mark. Whether the wide layout fits depends on what the rows hold (a kind
``preference``, a role ``assistant``, the explain parts), so it is measured, not guessed from the
width alone.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.segment import Segment
from rich.table import Table

from memoryd.cli.output import Output

__all__ = ["fitting"]


def _width(console: Console, table: Table) -> int:
    """The width ``table`` takes on ``console`` when nothing cuts it."""
    lines = Segment.split_lines(console.render(table, console.options))
    return max((Segment.get_line_length(line) for line in lines), default=0)


def fitting(output: Output, build: Callable[[bool], Table]) -> Table:
    """``build(False)`` (the wide layout) if it fits ``output``'s stdout, else ``build(True)``; the
    compact one at once on a terminal too narrow for wide tables to read well (``output.compact``)."""
    if output.compact:
        return build(True)
    wide = build(False)
    return wide if _width(output.out, wide) <= output.out.width else build(True)
