"""A begun stream whose upstream pauses keeps its client's connection alive with SSE comments.

The relay sent nothing while the upstream paused after its first chunk (a model thinking, events
with nothing to relay: Anthropic's pings, OpenRouter's comments), for as long as ``llm.timeout_s``
(longer while the upstream sends such bytes): a client's read timeout, or a proxy's idle cut-off,
shorter than the pause ended an answer that was still coming, where the vendor itself would have
kept the connection busy. A keep-alive comment (``: keep-alive``, skipped by every SSE client and
the OpenAI SDKs) now goes out after a third of ``llm.timeout_s`` (at most 15 s) without a chunk.
"""

from __future__ import annotations

import openai

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, target

Q = [{"role": "user", "content": "Take your time."}]
TEXT = "first words, then a long pause, then the rest"
# After the role chunk and the first words, 3.2 s of silence: under the stall limit (4.5 s), past
# the client's read timeout (2.2 s); keep-alives every 1.5 s.
PAUSED = Reply(text=TEXT, pause=(2, 3.2))
LLM = {"timeout_s": 4.5}


def test_a_paused_stream_sends_keep_alive_comments_between_its_chunks(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.push(PAUSED)
    body = {"model": "m", "stream": True, "messages": Q, "user": "ana"}
    with gateway([[target(fake_llm, "m")]], llm=LLM) as gw, gw.http() as http:
        with http.stream("POST", "/v1/chat/completions", json=body) as r:
            events = b"".join(r.iter_bytes()).split(b"\n\n")
        stored = gw.wait_for_memories("ana", 2)
    assert b": keep-alive" in events  # an SSE comment, in the pause
    assert events[-2:] == [b"data: [DONE]", b""]
    assert all(e.startswith(b"data: {") for e in events[:-2] if e != b": keep-alive")
    assert TEXT in {m["text"] for m in stored}  # the answer is whole, and remembered


def test_an_sdk_whose_read_timeout_is_shorter_than_the_pause_gets_the_whole_answer(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.push(PAUSED)
    with gateway([[target(fake_llm, "m")]], llm=LLM) as gw:
        client = gw.client(timeout=openai.Timeout(30.0, read=2.2))
        stream = client.chat.completions.create(model="m", messages=Q, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == TEXT
