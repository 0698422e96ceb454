"""Fine mode against a web page or other text answering with a success status (a proxy's login or
error page, a server that is not the LLM's), found in a review of fine mode against a misbehaving
LLM.

Each test failed on the code before its fix: the fallback said only "the reply is not a JSON
object", never what came instead, though the README says fine mode names such a page as the
gateway does (its title, or the text's first words) and errors with a failing status did.
"""

from __future__ import annotations

import json

from memoryd import AsyncMemory
from tests.fakes.llm_server import Script
from tests.fine.test_fine_mode import of_kind

ALICE = {"user_id": "alice"}
PAGE = "<!doctype html><html><head><title>Corporate proxy: sign in</title></head><body><form/></body></html>"


async def test_a_web_page_answering_is_named_by_its_title(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_raw(PAGE, headers={"content-type": "text/html; charset=utf-8"}, times=4)
    out = await fine.add("I work at Acme", **ALICE)
    assert [r.kind for r in out] == ["episode", "profile"]  # stored as in fast mode
    assert out.llm is not None and out.llm.fallback is not None
    assert 'an HTML page (text/html): "Corporate proxy: sign in"' in out.llm.fallback
    assert "<form" not in out.llm.fallback


async def test_a_text_answering_is_named_by_its_first_words(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_raw("upstream busy, come back later", times=4)
    out = await fine.add("I work at Acme", **ALICE)
    assert out.llm is not None and 'a text/plain body: "upstream busy, come back later"' in str(out.llm.fallback)


async def test_a_reply_that_is_not_utf8_says_so(fine: AsyncMemory, fake_llm: Script) -> None:
    answer = json.dumps({"choices": [{"message": {"role": "assistant", "content": "XX"}, "finish_reason": "stop"}]})
    raw = answer.encode().replace(b"XX", b"caf\xe9")  # Latin-1, not UTF-8
    fake_llm.reply_raw(raw, headers={"content-type": "application/json"}, times=4)  # type: ignore[arg-type]
    out = await fine.add("I work at Acme", **ALICE)
    [episode] = of_kind(out, "episode")
    assert episode.text == "I work at Acme"
    assert out.llm is not None and "not UTF-8" in str(out.llm.fallback)
