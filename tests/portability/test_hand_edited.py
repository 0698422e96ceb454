"""An export whose memory text was edited by hand (a typo fixed before a restore) imports as
edited: the memory is indexed from its new text, not from the vector and terms the file carried
for the old one, so the store checks clean and finds it by its new words."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from memoryd.embedders.use import USEEmbedder
from memoryd.models import content_hash
from tests.fakes.llm_server import Script
from tests.portability.conftest import filled_export
from tests.portability.test_import_leftovers import run  # noqa: F401 - a fixture, shared


def test_a_memory_whose_text_was_edited_in_the_file_is_indexed_from_its_new_text(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, run: Callable[..., Result]  # noqa: F811
) -> None:
    _, whole = asyncio.run(filled_export(tmp_path, fake_llm, embedder))
    rows = [json.loads(line) for line in whole.read_text(encoding="utf-8").splitlines()]
    edited = next(r for r in rows if r["type"] == "memory" and r["text"] == "I prefer tea")
    assert "vector" in edited["index"] and edited["index"]["terms"]  # the file carries the old index
    edited["text"] = "I prefer jasmine tea with zucchini bread"
    out = tmp_path / "edited.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    env = {"MEMORYD_STORAGE__PATH": str(tmp_path / "new" / "a.db")}

    imported = run(env, "import", str(out), "--json")
    assert imported.exit_code == 0, imported.stdout + imported.stderr
    assert json.loads(imported.stdout)["reembedded"] == 1  # that memory alone: the others' index is theirs
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    got = json.loads(run(env, "get", edited["id"], "--json").stdout)
    assert got["text"] == "I prefer jasmine tea with zucchini bread"
    assert got["hash"] == content_hash(got["text"])  # what a later add of the same text is compared with
    found = json.loads(run(env, "search", "zucchini", "-u", "bob", "--json").stdout)["results"]
    assert found and found[0]["id"] == edited["id"]
