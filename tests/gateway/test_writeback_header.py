"""``X-Memoryd-Writeback`` on a 200: ``skipped`` when nothing of the call is written back.

Before the fix every answer of a call with a user said ``on``, though the gateway writes nothing
back of an answer that is only a tool call, of a call whose user's message has no text (no query:
``X-Memoryd-Memory: skipped``), or of a call whose user was erased while it ran. A complete answer
(not streamed) now says ``skipped`` in each case, as the write-back counts and the store agree; so
does a stream whose case is known before its headers go out (no query, the user already erased).
A stream's tool call is known only after its headers: there ``on`` stays (written back if the
answer is one that is).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, GatewayServer, target

CALL = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Porto"}}
ASK = [{"role": "user", "content": "Weather in Porto?"}]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
NO_TEXT: dict[str, list[dict[str, Any]]] = {
    "system-only": [{"role": "system", "content": "Be brief."}],
    "image-only": [{"role": "user", "content": [IMAGE]}],
    "blank": [{"role": "user", "content": "   "}],
    "nul": [{"role": "user", "content": "\x00 \x00"}],  # NUL is no text, as the store reads it
}


def _chat(gw: GatewayServer, messages: list[dict[str, Any]], user: str, stream: bool) -> Any:
    with gw.http() as http:
        response = http.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": messages, "stream": stream},
            headers={"X-Memoryd-User-Id": user},
        )
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_call_answer_says_skipped_unless_streamed(
    gateway: GatewayFactory, fake_llm: Script, stream: bool
) -> None:
    fake_llm.reply_text("", tool_calls=[CALL])
    fake_llm.reply_text("It is sunny in Porto.")
    with gateway([[target(fake_llm, "m")]]) as gw:
        tool = _chat(gw, ASK, "dee", stream)
        after_tool, stored_after_tool = gw.writebacks(), gw.memories("dee")
        words = _chat(gw, ASK, "dee", stream)
        after_words, stored = gw.writebacks(), gw.memories("dee")
    assert after_tool["scheduled"] == 0 and stored_after_tool == []  # the tool call: nothing kept
    # Complete, the answer is known before its headers; a stream's headers go out before it is.
    assert tool.headers["x-memoryd-writeback"] == ("on" if stream else "skipped")
    assert words.headers["x-memoryd-writeback"] == "on"  # an answer in words: its turn is kept
    assert after_words["scheduled"] == after_words["stored"] == 1 and len(stored) == 2


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", sorted(NO_TEXT))
def test_a_call_without_a_query_says_skipped(
    gateway: GatewayFactory, fake_llm: Script, case: str, stream: bool
) -> None:
    fake_llm.default_text("Hello.")
    with gateway([[target(fake_llm, "m")]]) as gw:
        response = _chat(gw, NO_TEXT[case], "eve", stream)
        counts, stored = gw.writebacks(), gw.memories("eve")
    assert response.headers["x-memoryd-memory"] == "skipped"
    assert response.headers["x-memoryd-writeback"] == "skipped"
    assert counts["scheduled"] == 0 and stored == []


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_whose_user_is_erased_before_the_answer_says_skipped(
    gateway: GatewayFactory, fake_llm: Script, stream: bool
) -> None:
    """The upstream holds its answer (its headers too) until zed has been deleted."""
    fake_llm.push(Reply(text="Noted, 4242.", delay=3.0))
    with gateway([[target(fake_llm, "m")]]) as gw:
        deleted: list[int] = []

        def erase() -> None:
            while not fake_llm.requests:  # the call is upstream, waiting for its answer
                time.sleep(0.01)
            with gw.http() as http:
                deleted.append(http.delete("/v1/users/zed").status_code)

        eraser = threading.Thread(target=erase)
        eraser.start()
        try:
            response = _chat(gw, [{"role": "user", "content": "My PIN is 4242"}], "zed", stream)
        finally:
            eraser.join()
        counts, stored = gw.writebacks(), gw.memories("zed")
    assert deleted == [200]
    assert response.headers["x-memoryd-writeback"] == "skipped"
    assert counts["scheduled"] == 0 and stored == []


def test_write_back_off_still_says_off_on_a_tool_call(gateway: GatewayFactory, fake_llm: Script) -> None:
    fake_llm.reply_text("", tool_calls=[CALL])
    with gateway([[target(fake_llm, "m")]], gateway={"writeback": False}) as gw:
        response = _chat(gw, ASK, "dee", False)
    assert response.headers["x-memoryd-writeback"] == "off"
