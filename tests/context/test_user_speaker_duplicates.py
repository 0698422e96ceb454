"""The context's duplicates read the user as one speaker, as an add's duplicate check does: the same
words said with no name, the ``user_id`` or a name the user is known by appear once; another named
speaker's stay their own line."""

from __future__ import annotations

from memoryd import AsyncMemory
from memoryd.context.builder import PROFILE, RELEVANT, Candidate, build_context
from memoryd.models import MemoryKind
from tests.context.test_builder import record

RUI = "My brother Rui is a pilot"
QUERY = "what does Rui do"


async def lines_saying(mem: AsyncMemory, text: str, user_id: str) -> list[str]:
    """The context's lines of turns saying ``text`` (each "speaker: text", its date left out)."""
    ctx = await mem.context(QUERY if text == RUI else text, user_id=user_id)
    turns = [i.text for i in ctx.items if i.kind == "episode" and i.text.endswith(f": {text}")]
    return [t.split(") ", 1)[1] if t.startswith("(") else t for t in turns]


async def test_the_users_words_named_as_the_user_id_and_unnamed_appear_once(amem: AsyncMemory) -> None:
    await amem.add([{"role": "user", "content": RUI, "name": "Ana"}], user_id="ana", run_id="s2")
    await amem.add(RUI, user_id="ana")  # another scope (no session): stored again
    assert len(await lines_saying(amem, RUI, "ana")) == 1


async def test_a_name_the_profile_states_is_the_user(amem: AsyncMemory) -> None:
    await amem.add("My name is Ana Lima.", user_id="u-42", run_id="s1")
    await amem.add([{"role": "user", "content": RUI, "name": "Ana"}], user_id="u-42", run_id="s2")
    await amem.add(RUI, user_id="u-42")
    ctx = await amem.context(QUERY, user_id="u-42")
    assert "The user's name is Ana Lima." in [i.text for i in ctx.items if i.section == PROFILE]
    assert len(await lines_saying(amem, RUI, "u-42")) == 1


async def test_another_named_speaker_keeps_their_line(amem: AsyncMemory) -> None:
    said = "We went hiking in Sintra last weekend"
    await amem.add([{"role": "user", "content": said, "name": "Melanie"}], user_id="caroline", run_id="s1")
    await amem.add(said, user_id="caroline")
    assert sorted(await lines_saying(amem, said, "caroline")) == [f"Melanie: {said}", f"user: {said}"]


async def test_a_name_the_user_is_not_known_by_keeps_its_line(amem: AsyncMemory) -> None:
    await amem.add([{"role": "user", "content": RUI, "name": "Bob"}], user_id="ana", run_id="s2")
    await amem.add(RUI, user_id="ana")
    assert sorted(await lines_saying(amem, RUI, "ana")) == [f"Bob: {RUI}", f"user: {RUI}"]


async def test_an_opaque_user_id_and_no_stated_name_leave_a_named_speaker_apart(amem: AsyncMemory) -> None:
    await amem.add([{"role": "user", "content": RUI, "name": "Ana"}], user_id="u-42", run_id="s2")
    await amem.add(RUI, user_id="u-42")
    assert sorted(await lines_saying(amem, RUI, "u-42")) == [f"Ana: {RUI}", f"user: {RUI}"]


def test_the_first_listed_of_the_users_copies_is_kept() -> None:
    named = record(1, RUI, actor="U_42 ", user_id="u-42")  # the user_id, spacing and case aside
    unnamed = record(2, RUI, user_id="u-42")
    known = record(3, RUI, actor="Ana", user_id="u-42")  # the first name of the name the profile states
    stated = "The user's name is Ana Lima."
    name = record(4, stated, MemoryKind.PROFILE, metadata={"attribute": "name"}, user_id="u-42")
    for first, *rest in ((named, unnamed, known), (unnamed, known, named), (known, named, unnamed)):
        cands = [Candidate(name, PROFILE), *(Candidate(m, RELEVANT, 0.5) for m in (first, *rest))]
        ctx = build_context(cands, 1000)
        assert [i.id for i in ctx.items if i.section == RELEVANT] == [first.id]
