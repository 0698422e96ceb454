"""Tables wider than the terminal were cut, not folded: the end of each line was lost.

`memoryd add` on an 80-column terminal showed "I really enjoy lon" for "... long walks ...", and
`memoryd search --explain` at 110-130 columns showed "cos 0.5" for "cos 0.555 #1". Each table now
takes its compact layout (what does not fit folded under the text) when the wide one is too wide.
"""

from __future__ import annotations

from tests.cli.conftest import Run, as_json

WALKS = "I really enjoy long walks on the beach with my dog"


def test_add_on_an_80_column_terminal_shows_every_word_and_the_id(run: Run) -> None:
    result = run("add", WALKS, "-u", "ana", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    shown = result.stdout.split()
    assert all(word in shown for word in WALKS.split()), result.stdout
    stored = as_json(run("list", "-u", "ana", "--json"))["results"][0]
    assert stored["id"] in result.stdout
    assert "ADD" in result.stdout and "episode" in result.stdout


def test_search_explain_shows_each_part_whole_at_every_width(run: Run) -> None:
    run("add", "I moved to Lisbon last spring", "-u", "ana")
    run("add", "How do you like Lisbon and Portugal?", "-u", "ana", "--role", "assistant")
    hits = as_json(run("search", "Lisbon", "-u", "ana", "--explain", "--json"))["results"]
    parts = [f"cos {h['explain']['dense_cosine']:.3f} #{h['explain']['dense_rank']}" for h in hits]
    assert len(parts) >= 2
    for width in ("80", "110", "115", "120", "125", "130", "200"):
        shown = run("search", "Lisbon", "-u", "ana", "--explain", env={"COLUMNS": width}).stdout
        last_column = " ".join(line.rsplit("│", 1)[-1].strip() for line in shown.splitlines())
        assert all(p in last_column for p in parts), (width, parts, shown)
        assert all(h["id"] in shown for h in hits), (width, shown)
