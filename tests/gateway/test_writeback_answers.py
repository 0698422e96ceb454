"""What a write-back keeps of an answer that did not end well: an answer cut short, one with a
character UTF-8 cannot carry, one whose fine-mode extraction failed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from memoryd.gateway.writeback import Turn, WriteBack
from tests.fakes.llm_server import Script
from tests.fine.conftest import llm_settings
from tests.gateway.conftest import GatewayFactory, target


def _said(gw_memories: list[dict[str, object]]) -> list[tuple[object, object]]:
    return sorted((m["role"], m["text"]) for m in gw_memories)


def test_an_answer_cut_short_is_not_kept_but_the_users_message_is(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.reply_text("The capital of France is", finish_reason="length")
    fake_llm.reply_text("I cannot help with", finish_reason="content_filter")
    fake_llm.reply_text("Paris.")
    with gateway([[target(fake_llm, "m")]]) as gw:
        client = gw.client()
        for question in ("I just moved to Lyon. What is the capital of France?",
                         "My sister lives in Nantes. Tell me about her.",
                         "What is the capital of France, again?"):  # fmt: skip
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": question}], user="ana", max_tokens=5
            )
        stored = gw.wait_for_memories("ana", 4)
        health = gw.get("/health")["checks"]["gateway"]["writeback"]
    assert _said(stored) == [
        ("assistant", "Paris."),
        ("user", "I just moved to Lyon. What is the capital of France?"),
        ("user", "My sister lives in Nantes. Tell me about her."),
        ("user", "What is the capital of France, again?"),
    ]
    assert health["failed"] == 0 and health["stored"] == 3


def test_an_empty_answer_keeps_the_users_message(gateway: GatewayFactory, fake_llm: Script) -> None:
    # finish_reason "stop" and no words: the user's message was dropped with it
    fake_llm.reply_text("", finish_reason="stop")
    fake_llm.reply_text("Noted.")
    with gateway([[target(fake_llm, "m")]]) as gw:
        client = gw.client()
        for question in ("I keep bees on the roof.", "And I grow tomatoes."):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": question}], user="di")
        stored = gw.wait_for_memories("di", 3)
        health = gw.get("/health")["checks"]["gateway"]["writeback"]
    assert _said(stored) == [
        ("assistant", "Noted."), ("user", "And I grow tomatoes."), ("user", "I keep bees on the roof."),
    ]  # fmt: skip
    assert health["failed"] == 0 and health["stored"] == 2


def test_an_answer_ending_in_half_an_emoji_is_kept_with_a_replacement_character(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # JSON may escape a lone surrogate (an emoji's pair cut at the token limit): no UTF-8 text
    body = (
        '{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0,'
        ' "message": {"role": "assistant", "content": "Have a nice trip \\ud83d"}, "finish_reason": "stop"}]}'
    )
    fake_llm.reply_raw(body)
    with gateway([[target(fake_llm, "m")]]) as gw:
        answer = gw.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "I fly to Oslo tomorrow"}], user="bo"
        )
        assert answer.choices[0].message.content == "Have a nice trip \ud83d"  # relayed as it came
        stored = gw.wait_for_memories("bo", 2)
        health = gw.get("/health")["checks"]["gateway"]["writeback"]
    assert _said(stored) == [("assistant", "Have a nice trip \ufffd"), ("user", "I fly to Oslo tomorrow")]
    assert health["failed"] == 0


async def test_turns_stored_without_the_llms_extraction_are_counted_and_logged(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.default_text("Sure, happy to help!")  # no JSON: extraction is re-asked, then falls back
    mem = await AsyncMemory(llm_settings(tmp_path, fake_llm.base_url), embedder=embedder).open()
    try:
        wb = WriteBack(mem.settings.limits)
        with caplog.at_level(logging.WARNING, logger="memoryd.gateway"):
            wb.schedule(mem, None, Turn("cy", "s1", "I work at Acme as a welder", "Nice!", "m"))
            await wb.drain()
        page = await mem.get_all(user_id="cy", filters={"kind": "episode"})
    finally:
        await mem.close()
    assert sorted(m.text for m in page.items) == ["I work at Acme as a welder", "Nice!"]
    assert wb.counts["stored"] == 1 and wb.counts["stored_without_llm"] == 1
    assert any("without the LLM's extraction" in r.getMessage() for r in caplog.records)
