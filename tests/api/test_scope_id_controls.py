"""A user, agent or run id holding a control character (NUL, a line break, a tab) is refused with a
422 naming the field, on every route family, and nothing is stored under it.

``{"user_id": "\\u0000"}`` was accepted: the memory was stored under a user no one could name on a
command line, and ``a\\x00b`` reads as ``a`` in C tools and logs. Empty and blank ids were already
refused; an id is an identifier, so no control character is part of one.
"""

from __future__ import annotations

import httpx
import pytest

from memoryd import AsyncMemory, InvalidInputError
from tests.api.conftest import add, count, error_of


@pytest.mark.parametrize("field", ["user_id", "agent_id", "run_id"])
@pytest.mark.parametrize("value", ["\x00", "ana\x00bob", "ana\nbob", "ana\tbob", "ana\x1b[31m"])
def test_an_id_with_a_control_character_is_refused_and_nothing_is_stored(
    client: httpx.Client, field: str, value: str
) -> None:
    add(client, "I like tea", user_id="ana")
    for path, body in [
        ("/v1/memories", {"messages": "I like coffee", field: value}),
        ("/memories", {"messages": [{"role": "user", "content": "I like coffee"}], field: value}),
        ("/v1/memories/search", {"query": "tea", field: value}),
    ]:
        error = error_of(client.post(path, json=body), 422)
        assert error["field"] == field and "control character" in error["message"], (path, error)
    assert count(client, user_id="ana") == 1
    assert [u["user_id"] for u in client.get("/v1/users").json()["results"]] == ["ana"]


async def test_the_library_refuses_it_too(amem: AsyncMemory) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await amem.add("I like tea", user_id="ana\x00")
    assert caught.value.field == "user_id"
    assert (await amem.get_all(user_id="ana")).total == 0
