"""An id of a line is one the API could name: an empty, blank or control-character id (or scope)
is refused naming that line and field, and nothing is imported (else the memory, history or
entity would be in the store where no request can reach it, or the error would name another line)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from memoryd import AsyncMemory, InvalidInputError
from memoryd.embedders.use import USEEmbedder
from memoryd.portability import import_store
from tests.fakes.llm_server import Script
from tests.portability.conftest import filled_export, store_settings

Edit = Callable[[dict[str, Any]], dict[str, Any]]


def _edited(text: list[str], kind: str, edit: Edit) -> tuple[list[str], int]:
    """The file with its first ``kind`` line changed by ``edit``, and that line's number."""
    first = next(i for i, line in enumerate(text) if json.loads(line).get("type") == kind)
    out = list(text)
    out[first] = json.dumps(edit(json.loads(out[first])), ensure_ascii=False)
    return out, first + 1


CASES: dict[str, tuple[str, Edit, str]] = {
    "a memory of a blank user": ("memory", lambda d: {**d, "user_id": " "}, "user_id must be a non-empty"),
    "a memory of an empty agent": ("memory", lambda d: {**d, "agent_id": ""}, "agent_id must be a non-empty"),
    "a memory's session with a line break": (
        "memory", lambda d: {**d, "run_id": "s\n1"}, "run_id holds a control character",
    ),
    "an entity of a blank owner": (
        "entity", lambda d: {**d, "owner": [" ", *d["owner"][1:]]}, "'owner': user_id must be a non-empty",
    ),
    "an entity without an id": ("entity", lambda d: {**d, "id": ""}, "'id' must be a non-empty string"),
    "a relation of an empty user": ("relation", lambda d: {**d, "user_id": ""}, "user_id must be a non-empty"),
    "a relation naming no memory": (
        "relation", lambda d: {**d, "memory_id": " "}, "'memory_id' must be a non-empty string",
    ),
    "a header of format true": ("header", lambda d: {**d, "format": True}, "'format' must be a positive integer"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_line_with_an_id_no_request_could_name_is_refused_by_its_number(
    case: str, tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    _, out = await filled_export(tmp_path, fake_llm, embedder)
    kind, edit, message = CASES[case]
    content, number = _edited(out.read_text(encoding="utf-8").splitlines(), kind, edit)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(content) + "\n", encoding="utf-8")
    async with AsyncMemory(store_settings(tmp_path / "target.db"), embedder=embedder) as mem:
        with pytest.raises(InvalidInputError) as raised:
            await import_store(mem, bad)
        assert raised.value.message.startswith(f"line {number}: ") and message in raised.value.message
        assert (await mem.storage.records.stats())["memories"] == 0
