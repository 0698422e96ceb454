"""What the gateway reads from a request for memory, and how it writes the memory block.

Each test failed on the code before its fix (found in a review of the gateway).
"""

from __future__ import annotations

from memoryd.context.builder import ContextItem
from memoryd.gateway.inject import FENCE_OPEN, query_of, render_block, said
from memoryd.models import new_id
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


def _rows(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.startswith("[")]


def test_the_same_memories_make_the_same_block_whatever_their_relevance_order() -> None:
    ids = sorted(new_id() for _ in range(4))  # time-ordered (to the millisecond): oldest first
    relevant = [ContextItem(i, i[-8:], "fact", "Relevant memories", f"fact {n}", 1.0, 3) for n, i in enumerate(ids)]
    prefs = [ContextItem(i, i[-8:], "preference", "Preferences", f"likes {n}", 1.0, 3) for n, i in enumerate(ids)]
    asked = [{"role": "user", "content": "hello"}]
    first, _ = render_block([prefs[2], prefs[0], relevant[3], relevant[1], relevant[0]], asked)
    second, _ = render_block([prefs[0], prefs[2], relevant[0], relevant[3], relevant[1]], asked)
    assert first == second
    assert _rows(first) == [f"[{ids[0][-8:]}] likes 0", f"[{ids[2][-8:]}] likes 2"] + [
        f"[{ids[n][-8:]}] fact {n}" for n in (0, 1, 3)
    ]


def test_two_turns_recalling_the_same_memories_send_the_same_prompt_prefix(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    """Rows in relevance order changed the block, and with it the cached prefix, every turn."""
    facts = ["I adopted a golden retriever named Biscuit", "I work as a nurse in Lyon",
             "I am allergic to peanuts", "My sister Maya lives in Oslo", "I play the cello on weekends"]  # fmt: skip
    system = {"role": "system", "content": "You are a helpful assistant."}
    conversation = [system, {"role": "user", "content": "What should I cook tonight?"}]
    fake_llm.default_text("Noted.")
    with gateway([[target(fake_llm, "m")]]) as gw:
        for fact in facts:
            add_memory(gw, fact, "ana")
        client = gw.client()
        client.chat.completions.create(model="m", user="ana", messages=conversation)  # type: ignore[arg-type]
        first = fake_llm.last.json["messages"]
        gw.wait_for_memories("ana", len(facts) + 2)  # the first turn written back (left out: asked again)
        conversation += [
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": "Any ideas for my sister's visit?"},
        ]
        client.chat.completions.create(model="m", user="ana", messages=conversation)  # type: ignore[arg-type]
        second = fake_llm.last.json["messages"]
    assert FENCE_OPEN in first[1]["content"] and len(_rows(first[1]["content"])) == len(facts)
    assert second[:2] == first[:2]  # the system prompt and the memory block, byte for byte
