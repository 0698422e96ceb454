"""How the CLI writes to stdout: every write whole, or an error that ends the command one way.

All of the output goes through :func:`write_whole`: :meth:`~memoryd.cli.output.Output.json`
directly, rich's consoles through :class:`StdoutFile` and :class:`MemorydConsole`. So whatever a
command prints, and however it prints it (one JSON document, a table, lines of text):

- a reader that goes away (``memoryd list | head -1``) ends it quietly with exit 1 (typer's
  handling of a broken pipe, as Python's docs advise; most tools end quietly too). Rich ended its
  own way (its ``on_broken_pipe``), and a large write that a pipe took part of as its reader left
  was cut short without a word, exit 0: Python's text layer drops what its buffer did not write;
- Ctrl-C while the output waits on a full pipe (:func:`interrupted_output`) says "interrupted" on
  stderr and exits 130, where it ended with nothing said and truncated JSON on stdout.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import typer
from rich.console import Console

__all__ = ["MemorydConsole", "StdoutFile", "interrupted_output", "set_stdout_aside", "write_whole"]


def write_whole(text: str) -> None:
    """Write ``text`` to stdout and flush: all of it, or an error (``BrokenPipeError`` once the
    reader is gone, ``OSError`` for a full disk or a closed stdout)."""
    stream = sys.stdout
    if stream is None:  # started with `>&-`
        raise OSError(errno.EBADF, "stdout is closed")
    buffer = getattr(stream, "buffer", None)
    if not isinstance(stream, io.TextIOWrapper) or buffer is None or os.linesep != "\n":
        stream.write(text)
        stream.flush()
        return
    stream.flush()  # what the text layer holds goes first
    data = memoryview(text.encode(stream.encoding, stream.errors or "strict"))
    while data:  # a short count is the pipe's reader leaving: the next write says so (EPIPE)
        data = data[buffer.write(data) :]
    buffer.flush()


class StdoutFile:
    """sys.stdout as it is when written to (a test runner swaps it), each write whole."""

    def write(self, text: str) -> int:
        write_whole(text)
        return len(text)

    def flush(self) -> None:
        if sys.stdout is not None:
            sys.stdout.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding: rich asks the real stdout
        return getattr(sys.stdout, name)


class MemorydConsole(Console):
    """A rich console whose broken pipe is the error every other write raises (rich quit at once,
    its own way), so that all output ends alike (see the module's doc). It reads no emoji codes:
    what it prints holds names and text from the user and the config, where ``:gemini:`` (in a
    label ``llm:gemini:model@host``) or ``:smile:`` is text, not ♊ or 😄."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("emoji", False)
        super().__init__(*args, **kwargs)

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def set_stdout_aside() -> None:
    """stdout's descriptor goes to /dev/null: what its buffers still hold is dropped at exit, not
    written to a pipe that is full (a wait for ever) or gone (an error after the command's end)."""
    with suppress(Exception):  # a test runner's stdout has no descriptor: nothing to set aside
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextmanager
def interrupted_output(note: Callable[[str], None]) -> Iterator[None]:
    """Ctrl-C while writing the output (a full pipe whose reader does not read): ``note`` says so
    on stderr and the command exits 130; stdout is set aside, since what it got is cut short
    and a JSON document saying "interrupted" would only wait on the same pipe."""
    try:
        yield
    except KeyboardInterrupt:
        set_stdout_aside()
        note("[yellow]interrupted[/yellow] while writing the output: what it wrote is cut short")
        raise typer.Exit(130) from None
