"""What fast mode's rules read from a turn carries the add's metadata, as fine mode's facts do.

"I moved to Lisbon" added with ``metadata={"topic": "home"}`` gave "The user lives in Lisbon."
with the rule's metadata only, so ``filters={"topic": "home"}`` (the README's own example) found
the turn and not what was read from it. The rule's keys still win over the caller's.
"""

from __future__ import annotations

from memoryd import AsyncMemory


async def test_rule_memories_keep_the_adds_metadata_and_the_rules_keys(amem: AsyncMemory) -> None:
    await amem.add("I moved to Lisbon last spring", user_id="ana", metadata={"topic": "home", "rule": "mine"})
    page = await amem.get_all(user_id="ana", filters={"topic": "home"})
    assert sorted(m.text for m in page.items) == ["I moved to Lisbon last spring", "The user lives in Lisbon."]
    (home,) = [m for m in page.items if m.kind.value == "profile"]
    assert (home.metadata["rule"], home.metadata["attribute"]) == ("live", "location")
    hits = await amem.search("where does Ana live?", user_id="ana", filters={"topic": "home"})
    assert "The user lives in Lisbon." in [h.memory.text for h in hits]


async def test_another_speakers_fact_keeps_the_adds_metadata(amem: AsyncMemory) -> None:
    turns = [
        {"role": "user", "content": "Hi, I'm Caroline.", "name": "Caroline"},
        {"role": "user", "content": "I live in Paris", "name": "Melanie"},
    ]
    await amem.add(turns, user_id="caroline", run_id="s1", metadata={"topic": "friends"})
    page = await amem.get_all(user_id="caroline", filters={"kind": "fact", "topic": "friends"})
    (fact,) = page.items
    assert fact.text == "Melanie lives in Paris." and fact.metadata["subject"] == "Melanie"
    assert fact.metadata["source_run_id"] == "s1" and "attribute" not in fact.metadata


async def test_the_adds_metadata_never_sets_what_the_rules_read_a_memory_by(amem: AsyncMemory) -> None:
    # an add's "left" made every rule memory of it an unmatched end of a home: silently dropped
    meta = {"left": True, "polarity": "dislike", "subject": "Bob", "attribute": "x", "topic": "t"}
    text = "I like coffee. My favourite food is pizza. My name is Ana. I'm allergic to peanuts."
    await amem.add(text, user_id="ana", metadata=meta)
    page = await amem.get_all(user_id="ana", filters={"kind": {"in": ["profile", "preference"]}})
    assert sorted(m.text for m in page.items) == [
        "The user is allergic to peanuts.", "The user likes coffee.", "The user's favourite food is pizza.",
        "The user's name is Ana.",
    ]  # fmt: skip
    like = next(m for m in page.items if m.text == "The user likes coffee.")
    assert like.metadata["polarity"] == "like" and like.metadata["topic"] == "t" and "subject" not in like.metadata
    await amem.add("I moved to Paris", user_id="ana", metadata={"left": "sidebar"})
    homes = await amem.get_all(user_id="ana", filters={"metadata.attribute": "location"})
    assert [m.text for m in homes.items] == ["The user lives in Paris."]
