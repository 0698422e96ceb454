"""A filter nested past the server's body depth limit is an :class:`InvalidFilterError`, as the
embedded API says of any filter it cannot take (the server's request check refused it first, and
the client raised that check's InvalidInputError: ``except InvalidFilterError`` missed it)."""

from __future__ import annotations

from typing import Any

import pytest

from memoryd import AsyncMemory, AsyncMemoryClient, InvalidFilterError


def _nested(levels: int) -> dict[str, Any]:
    found: dict[str, Any] = {"topic": "home"}
    for _ in range(levels):
        found = {"$and": [found]}
    return found


@pytest.mark.parametrize("call", ["search", "get_all"])
async def test_a_deeply_nested_filter_is_an_invalid_filter(
    local: AsyncMemory, remote: AsyncMemoryClient, call: str
) -> None:
    args: tuple[Any, ...] = ("where do I live?",) if call == "search" else ()
    for mem in (local, remote):
        await mem.add("I live in Porto", user_id="ana")
        with pytest.raises(InvalidFilterError) as refused:
            await getattr(mem, call)(*args, user_id="ana", filters=_nested(50))
        assert refused.value.field is not None and refused.value.field.startswith("filters.$and")
    # a filter within the limits is still read
    page = await remote.get_all(user_id="ana", filters=_nested(2))
    assert page.total == 0
