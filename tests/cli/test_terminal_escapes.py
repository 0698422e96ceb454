"""Human output wrote stored text as it is: a memory holding ``ESC [2J`` (any API writer can store
one) cleared the terminal of whoever ran `memoryd list`, and U+202E reversed what followed. Every
table, tree and line built from stored text now shows such characters as escapes (``\\x1b``)."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Run

EVIL = "pay \x1b[2J\x1b[31mnow\x1b[0m \u202eexe.txt \x9b1m end"
RAW = ("\x1b", "\u202e", "\x9b")


def _clean(text: str, *, dropped: bool = False) -> None:
    """No raw control reaches the terminal: shown escaped, or (``dropped``: the context block, whose
    builder removes them from what goes into a prompt) not at all."""
    for raw in RAW:
        assert raw not in text
    if dropped:
        assert "\\x1b" not in text and "pay [2J[31mnow[0m exe.txt 1m end" in " ".join(text.split())
    else:
        assert "\\x1b[2J" in text and "\\u202e" in text


@pytest.mark.parametrize(
    "args",
    [
        ["list", "-u", "ana"],
        ["search", "pay now", "-u", "ana"],
        ["context", "pay now", "-u", "ana"],
        ["tree", "-u", "ana"],
    ],
    ids=lambda a: a[0],
)
def test_stored_text_never_reaches_the_terminal_raw(run: Run, args: list[str]) -> None:
    added = run("add", EVIL, "-u", "ana")
    assert added.exit_code == 0
    _clean(added.stdout)
    shown = run(*args)
    assert shown.exit_code == 0, shown.stdout
    _clean(shown.stdout, dropped=args[0] == "context")


def test_a_memory_shown_by_id_and_its_history_are_escaped_too(run: Run) -> None:
    added = run("add", EVIL, "-u", "ana", "--json")
    memory_id = json.loads(added.stdout)["results"][0]["id"]
    for args in (["get", memory_id], ["history", memory_id]):
        shown = run(*args)
        assert shown.exit_code == 0, shown.stdout
        _clean(shown.stdout)
