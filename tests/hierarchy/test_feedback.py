"""Assistant knowledge in fast mode: explicit feedback rules, English and Chinese, and where it goes."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory
from memoryd.hierarchy.feedback import extract_feedback
from memoryd.models import Event, MemoryKind


@pytest.mark.parametrize(
    ("message", "statement"),
    [
        ("Please be more concise.", "The assistant should keep its answers concise."),
        ("Can you keep it short?", "The assistant should keep its answers concise."),
        ("Your answers are way too long.", "The assistant should keep its answers concise."),
        ("Don't use emojis!", "The assistant should not use emojis."),
        ("No emojis please", "The assistant should not use emojis."),
        ("OK, from now on, avoid jargon.", "The assistant should not use jargon."),
        ("From now on, answer in French.", "The assistant should answer in French."),
        ("Be more formal, please.", "The assistant should be more formal."),
        ("Please stop repeating yourself", "The assistant should stop repeating itself."),
        ("Use more examples", "The assistant should use more examples."),
        ("请简洁一点。", "助手应该回答得更简洁。"),
        ("不要用表情符号", "助手不应使用表情符号。"),
        ("你能不用表情符号吗？", "助手不应使用表情符号。"),
        ("以后请用中文回答我", "助手应该用中文回答。"),
        ("你说得太复杂了", "助手应该用更简单的话解释。"),
        ("回答详细一点", "助手应该回答得更详细。"),
        ("别再道歉了", "助手不应道歉。"),
        ("Keep it short, like I said.", "The assistant should keep its answers concise."),  # the user's own
        ("Don't use emojis, I told you!", "The assistant should not use emojis."),
    ],
)
def test_feedback_becomes_assistant_knowledge(message: str, statement: str) -> None:
    [found] = extract_feedback(message)
    assert found.text == statement and found.kind is MemoryKind.PREFERENCE
    assert found.metadata["about"] == "assistant" and found.metadata["preference"] == "explicit"
    assert found.rule.startswith("feedback:")


@pytest.mark.parametrize(
    "message",
    [
        "My boss told me to be more concise.",  # reported, and not a request to the assistant
        "I need to be more concise.",
        "I don't use emojis.",
        "Do you use emojis?",  # a question
        "Be careful with the dog.",  # not a style
        "I watched Dune. It was too long.",  # about a film
        "电影太长了",
        "为什么不要用表情符号？",
        "我想要详细一点的地图",
        "Keep it short, said the editor.",  # reported speech after the request
        "Don't use bullet points in your thesis, my advisor warned me.",
        "Be more concise, as my teacher always says.",
        '"Keep it short," said the editor.',
        "Keep it short, I was told.",
        # a Chinese question without "为什么", and speech over a "，", are no request either
        "不要用表情符号吗？",
        "不要用表情符号吗",
        "老板说，不要用表情符号",
        'My boss said: "don\'t use emojis"',  # quoted: someone's words
    ],
)
def test_what_is_not_feedback(message: str) -> None:
    assert extract_feedback(message) == []


def test_only_user_messages_count() -> None:
    assert extract_feedback("Please be more concise.", role="assistant") == []
    assert len(extract_feedback("Please be more concise. Don't use emojis!")) == 2


async def test_feedback_is_stored_owned_by_user_and_agent_and_always_in_context(amem: AsyncMemory) -> None:
    out = await amem.add(
        "Please be more concise. 不要用表情符号", user_id="ana", agent_id="helper", run_id="s1"
    )
    derived = [r for r in out if r.kind != "episode"]
    assert [(r.kind, r.text) for r in derived] == [
        ("preference", "The assistant should keep its answers concise."),
        ("preference", "助手不应使用表情符号。"),
    ]
    memory = await amem.get(str(derived[0].id))
    assert (memory.user_id, memory.agent_id, memory.run_id) == ("ana", "helper", None)
    assert memory.metadata["about"] == "assistant" and memory.metadata["rule"] == "feedback:concise"
    [entry] = await amem.history(memory.id)
    assert entry.event is Event.ADD and entry.details["rule"] == "feedback:concise"
    await amem.add("I love green tea.", user_id="ana", agent_id="helper")
    again = await amem.add("Please be more concise!", user_id="ana", agent_id="helper", run_id="s2")
    assert [(r.event, r.id) for r in again if r.kind != "episode"] == [(Event.NOOP, derived[0].id)]
    # unrelated to the query, yet in the context: it says how to answer
    ctx = await amem.context("what tea do I like?", user_id="ana", agent_id="helper", token_budget=200)
    prefs = [i.text for i in ctx.items if i.section == "Preferences"]
    assert "The assistant should keep its answers concise." in prefs and "助手不应使用表情符号。" in prefs
    assert "The user loves green tea." in prefs
    tree = await amem.tree("ana", agent_id="helper")
    assert {m["text"] for m in tree["long_term"]["assistant"]} == {
        "The assistant should keep its answers concise.",
        "助手不应使用表情符号。",
    }
    assert [m["text"] for m in tree["long_term"]["preference"]] == ["The user loves green tea."]
