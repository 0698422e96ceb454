"""An error status answered with a web page (a proxy's error page) is named by the page's title in
the memory's own LLM calls, as the gateway names it (found in a review: ``status_error`` put the
page's raw markup, cut at 300 bytes, into the error)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from memoryd.errors import LLMUnavailableError
from memoryd.llm import Router
from tests.fakes.llm_server import Reply, Script
from tests.llm.conftest import KEY, target

HELLO = [{"role": "user", "content": "hello"}]
PAGE = (
    "<!DOCTYPE html>\n<html>\n<head><style>body { color: red }</style>\n"
    f"<title>\n  502 Bad Gateway &amp; {KEY}\n</title></head>\n"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.25.3</center></body>\n</html>\n"
)


@pytest.mark.parametrize("provider", ["custom", "anthropic", "gemini"])
async def test_an_error_page_is_named_by_its_title_not_its_markup(
    provider: str, fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.push(Reply(status=502, raw=PAGE, headers={"content-type": "text/html; charset=utf-8"}))
    t = target(fake_llm, provider=provider)
    router = make_router([[t]], max_attempts=1)
    with pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)
    said = info.value.causes[t.label].message
    assert said == f'{t.label}: HTTP 502: an HTML page (text/html): "502 Bad Gateway & ***"', said
    assert "<" not in info.value.message and KEY not in info.value.message


async def test_a_plain_text_error_is_still_quoted(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_raw("upstream connect error", status=503)
    t = target(fake_llm)
    router = make_router([[t]], max_attempts=1)
    with pytest.raises(LLMUnavailableError) as info:
        await router.complete(HELLO)
    assert info.value.causes[t.label].message == f"{t.label}: HTTP 503: upstream connect error"
