"""A yes/no argument (``explain``, ``include_expired``, ``merge_metadata``) that is not a bool is
refused, embedded and remote alike, with the same class, field and message: the embedded API took
any truthy value (``explain="yes"`` explained; ``merge_metadata="no"`` merged) where the server
refused it, and the remote client sent ``merge_metadata="no"`` as true."""

from __future__ import annotations

from typing import Any

import pytest

from memoryd import AsyncMemory, AsyncMemoryClient, InvalidInputError

CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    ("search", ("porto",), {"user_id": "ana", "explain": "yes"}, "explain"),
    ("search", ("porto",), {"user_id": "ana", "explain": 1}, "explain"),
    ("get_all", (), {"user_id": "ana", "include_expired": "false"}, "include_expired"),
    ("update", (None, "I live in Lisbon"), {"user_id": "ana", "merge_metadata": "no"}, "merge_metadata"),
]


@pytest.mark.parametrize(
    ("call", "args", "kwargs", "field"), CALLS, ids=[c[3] + str(i) for i, c in enumerate(CALLS)]
)
async def test_a_yes_no_argument_that_is_no_bool_is_refused_as_embedded(
    local: AsyncMemory,
    remote: AsyncMemoryClient,
    call: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    field: str,
) -> None:
    refused = []
    for mem in (local, remote):
        added = await mem.add("I live in Porto", user_id="ana", metadata={"topic": "home"})
        memory_id = added[0].id
        given = tuple(memory_id if a is None else a for a in args)
        with pytest.raises(InvalidInputError) as caught:
            await getattr(mem, call)(*given, **kwargs)
        refused.append(caught.value)
        assert (await mem.get(memory_id, user_id="ana")).text == "I live in Porto"  # nothing changed
    mine, theirs = refused
    assert mine.field == field
    assert (type(theirs), theirs.field, theirs.message) == (type(mine), mine.field, mine.message)
