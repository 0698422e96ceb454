"""An argument of the wrong type is refused by the remote client as the embedded API refuses it:
the same class and field (an id sent as a query parameter, ``user_id=3``, reached the server as
the text "3"; filters that are not an object were the server's InvalidInputError)."""

from __future__ import annotations

from typing import Any

import pytest

from memoryd import AsyncMemory, AsyncMemoryClient, MemorydError

WRONG: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("users", (), {"user_id": 3}),
    ("get", ("some-id",), {"user_id": 3}),
    ("history", ("some-id",), {"agent_id": 7}),
    ("delete", ("some-id",), {"run_id": 1.5}),
    ("update", ("some-id", "new text"), {"user_id": 3}),
    ("delete_all", (), {"user_id": 3}),
    ("delete_all", (), {"user_id": "ana\x00"}),
    ("get_all", (), {"user_id": "ana", "filters": "topic=travel"}),
    ("search", ("q",), {"user_id": "ana", "filters": ["topic", "travel"]}),
    ("get", ("",), {"user_id": 3}),  # the id is checked first, as the core does
]


@pytest.mark.parametrize(
    ("call", "args", "kwargs"), WRONG, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(WRONG)]
)
async def test_a_wrong_type_is_refused_as_embedded(
    local: AsyncMemory, remote: AsyncMemoryClient, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    await local.add("I live in Porto", user_id="3")
    await remote.add("I live in Porto", user_id="3")
    with pytest.raises(MemorydError) as embedded:
        await getattr(local, call)(*args, **kwargs)
    with pytest.raises(MemorydError) as served:
        await getattr(remote, call)(*args, **kwargs)
    mine, theirs = embedded.value, served.value
    assert (type(theirs), theirs.field, theirs.message) == (type(mine), mine.field, mine.message)
