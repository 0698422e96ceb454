"""What the gateway reads from a request for memory, and how it writes the memory block.

Each test failed on the code before its fix (found in a review of the gateway).
"""

from __future__ import annotations

from memoryd.gateway.inject import query_of, said
from tests.fakes.llm_server import Script
from tests.gateway.conftest import GatewayFactory, add_memory, target

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
ASKED = [{"type": "text", "text": "What is my dog"}, IMAGE, {"type": "text", "text": "called?"}]


def test_text_parts_around_an_image_are_read_as_separate_words() -> None:
    messages = [{"role": "user", "content": ASKED}]
    assert query_of(messages, 4000) == "What is my dog called?"  # was "What is my dogcalled?"
    assert said(messages) == {"What is my dog called?"}


def test_a_multimodal_question_is_stored_and_searched_with_its_words_apart(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    fake_llm.default_text("Your dog is Biscuit.")
    with gateway([[target(fake_llm, "m")]]) as gw:
        add_memory(gw, "I adopted a golden retriever named Biscuit", "ana")
        raw = gw.client().chat.completions.with_raw_response.create(
            model="m", user="ana", messages=[{"role": "user", "content": ASKED}]  # type: ignore[list-item]
        )
        assert raw.headers["x-memoryd-memory"] == "injected"
        stored = [m["text"] for m in gw.wait_for_memories("ana", 3)]
    assert fake_llm.last.json["messages"][-1]["content"] == ASKED  # the upstream gets the parts as sent
    [question] = [t for t in stored if t.startswith("What is my dog")]
    assert question.split() == ["What", "is", "my", "dog", "called?"]
