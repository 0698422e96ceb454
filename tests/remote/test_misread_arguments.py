"""Arguments the remote client read otherwise than the embedded API: a base_url without its
scheme ("127.0.0.1:8420") was taken as a server that is down (BackendUnavailableError, after
the retries), and ``exclude`` given as one string was split into its letters and sent, so the
context left nothing out where the embedded API refuses it."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory, AsyncMemoryClient, ConfigError, InvalidInputError, MemoryClient


@pytest.mark.parametrize("base_url", ["127.0.0.1:8420", "localhost:8420", "ftp://127.0.0.1", "http://", ""])
def test_a_base_url_without_an_http_scheme_and_host_is_a_config_error(base_url: str) -> None:
    with pytest.raises(ConfigError) as bad:
        MemoryClient(base_url, max_retries=0)
    assert bad.value.field == "base_url"
    assert "http://127.0.0.1:8420" in bad.value.message


async def test_exclude_as_one_string_is_refused_as_embedded(
    local: AsyncMemory, remote: AsyncMemoryClient
) -> None:
    for mem in (local, remote):
        await mem.add("I live in Porto now", user_id="ana")
    with pytest.raises(InvalidInputError) as embedded:
        await local.context("where do I live?", user_id="ana", exclude="I live in Porto now")
    with pytest.raises(InvalidInputError) as served:
        await remote.context("where do I live?", user_id="ana", exclude="I live in Porto now")
    mine, theirs = embedded.value, served.value
    assert (theirs.field, theirs.message) == (mine.field, mine.message) == ("exclude", mine.message)
    # a list (tuple, set) of texts is still taken, and leaves out what it names
    found = await remote.context("where do I live?", user_id="ana", exclude=("I live in Porto now",))
    assert "I live in Porto now" not in found.text
