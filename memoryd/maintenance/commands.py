"""The commands of a message that work on one store, respelled for the store the message is about.

A store's errors and ``memoryd check``'s problems name their repair as a command (```memoryd
reindex```, ``details.repair: "memoryd reindex"``). As written it works on the default tenant's
store of the default config; whoever shows the message for another store (the CLI checking
``--config F --tenant T``, the server answering for tenant T) respells each such command with
:func:`respell`. An import into a new store is not one of them; ``import --restart`` is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["is_store_command", "respell"]

_COMMAND = r"memoryd (?:check|reindex|export|import --restart)\b"
_QUOTED = re.compile(rf"`({_COMMAND}[^`]*)`")  # in prose: `memoryd reindex --keywords-only`
_REPAIR_JSON = re.compile(rf'("repair": ")({_COMMAND}[^"]*)"')  # in an error's JSON (an MCP tool's text)


def respell(text: str, spell: Callable[[str], str]) -> str:
    """``text`` with each store command it quotes (in backquotes, or as a JSON ``repair``) replaced
    by ``spell(command)``; ``command`` is the whole command line, ``memoryd`` first."""
    text = _QUOTED.sub(lambda m: f"`{spell(m.group(1))}`", text)
    return _REPAIR_JSON.sub(lambda m: f'{m.group(1)}{spell(m.group(2))}"', text)


def is_store_command(text: str) -> bool:
    """Whether ``text`` is, whole, a command working on one store (a ``details.repair``)."""
    return _QUOTED.fullmatch(f"`{text}`") is not None
