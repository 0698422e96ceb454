"""Fast-mode rules read a named speaker's self-statements as the user's only when that speaker is
the user (memoryd/ingest/speakers.py): another person's "I live in Paris" is a fact about them,
never the user's home (real SQLite, real embedder, public API)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memoryd import AsyncMemory, Settings, load_settings
from memoryd.embedders.use import USEEmbedder


@pytest.fixture
async def rmem(tmp_path: Path, embedder: USEEmbedder) -> AsyncIterator[AsyncMemory]:
    settings: Settings = load_settings(
        env={},
        overrides={"storage": {"path": str(tmp_path / "memoryd.db")}, "context": {"fast_rules": True}},
    )
    mem = await AsyncMemory(settings, embedder=embedder).open()
    try:
        yield mem
    finally:
        await mem.close()


def said(user: str | None, text: str, role: str = "user") -> dict[str, str]:
    return {"role": role, "content": text, **({"name": user} if user else {})}


async def current(mem: AsyncMemory, user_id: str, kind: str) -> list[str]:
    page = await mem.get_all(user_id=user_id, filters={"kind": kind})
    return sorted(m.text for m in page.items)


async def test_another_speakers_home_is_a_fact_about_them_not_the_users_profile(rmem: AsyncMemory) -> None:
    out = await rmem.add(
        [said("Caroline", "I live in Boston"), said("Melanie", "I live in Paris"),
         said("Melanie", "I love pottery.")],
        user_id="caroline",
    )  # fmt: skip
    assert await current(rmem, "caroline", "profile") == ["The user lives in Boston."]
    assert await current(rmem, "caroline", "preference") == []
    assert await current(rmem, "caroline", "fact") == ["Melanie lives in Paris.", "Melanie loves pottery."]
    paris = next(r for r in out if r.text == "Melanie lives in Paris.")
    assert paris.kind == "fact" and paris.memory is not None
    assert paris.memory.metadata["subject"] == "Melanie" and paris.memory.source_ids == (out[1].id,)
    # found by who it is about; the episode itself is kept and searchable
    hits = await rmem.search("Where does Melanie live?", user_id="caroline", limit=3)
    assert hits[0].memory.text == "Melanie lives in Paris."
    assert any(h.memory.text == "I live in Paris" for h in await rmem.search("Paris", user_id="caroline"))
    built = await rmem.context("where do I live?", user_id="caroline")
    profile = [i.text for i in built.items if i.section == "Profile"]
    assert profile == ["The user lives in Boston."]


async def test_two_speakers_neither_known_as_the_user_leave_the_profile_alone(rmem: AsyncMemory) -> None:
    await rmem.add("I work at Acme.", user_id="u-81")  # the user's own, named by no one
    await rmem.add(
        [said("Caroline", "I live in Boston"), said("Melanie", "I work at Globex")], user_id="u-81"
    )
    assert await current(rmem, "u-81", "profile") == ["The user works at Acme."]
    assert await current(rmem, "u-81", "fact") == ["Caroline lives in Boston.", "Melanie works at Globex."]


async def test_unnamed_user_turns_beside_a_named_speaker_are_the_users(rmem: AsyncMemory) -> None:
    await rmem.add([said(None, "I live in Porto."), said("Melanie", "I live in Paris.")], user_id="u-7")
    assert await current(rmem, "u-7", "profile") == ["The user lives in Porto."]
    assert await current(rmem, "u-7", "fact") == ["Melanie lives in Paris."]


async def test_a_speaker_whose_name_is_not_the_users_known_name_is_someone_else(rmem: AsyncMemory) -> None:
    await rmem.add("My name is Caroline. I live in Boston.", user_id="u-1")
    await rmem.add(said("Melanie", "I live in Paris."), user_id="u-1")  # alone in its add
    await rmem.add(said("caroline", "I work at Acme."), user_id="u-1")  # her name: hers
    assert await current(rmem, "u-1", "profile") == [
        "The user lives in Boston.", "The user works at Acme.", "The user's name is Caroline."
    ]  # fmt: skip
    assert await current(rmem, "u-1", "fact") == ["Melanie lives in Paris."]


async def test_a_display_name_as_the_only_speaker_keeps_its_profile(rmem: AsyncMemory) -> None:
    """An app that names its one user in ``name`` (the name they give) with an opaque user_id."""
    await rmem.add(said("Anna", "My name is Anna Lima. I live in Lisbon."), user_id="u-42")
    out = await rmem.add(said("Anna", "I live in Porto."), user_id="u-42")
    assert out[1].text == "The user lives in Porto." and out[1].event.value == "SUPERSEDE"
    assert await current(rmem, "u-42", "profile") == [
        "The user lives in Porto.",
        "The user's name is Anna Lima.",
    ]
    assert await current(rmem, "u-42", "fact") == []


async def test_a_display_name_other_than_the_name_the_user_gave_is_someone_else(rmem: AsyncMemory) -> None:
    """The name profile is plain evidence: a speaker named otherwise is another person."""
    await rmem.add(said("annie", "My name is Anna. I live in Lisbon."), user_id="u-42")
    await rmem.add(said("annie", "I live in Porto."), user_id="u-42")
    assert await current(rmem, "u-42", "profile") == ["The user lives in Lisbon.", "The user's name is Anna."]
    assert await current(rmem, "u-42", "fact") == ["annie lives in Porto."]


async def test_a_handle_of_the_name_the_user_gave_is_the_user(rmem: AsyncMemory) -> None:
    await rmem.add("My name is Ana Lima", user_id="u-1")  # named by no one
    await rmem.add(said("ana_lima", "I live in Paris"), user_id="u-1", run_id="c1")
    await rmem.add(said("Ana", "I work at Acme"), user_id="u-1", run_id="c2")  # her first name
    assert await current(rmem, "u-1", "profile") == [
        "The user lives in Paris.", "The user works at Acme.", "The user's name is Ana Lima."
    ]  # fmt: skip
    assert await current(rmem, "u-1", "fact") == []


async def test_a_name_going_on_otherwise_than_the_users_is_someone_else(rmem: AsyncMemory) -> None:
    """The user_id "ana" and the name profile "Ana Lima": "Ana Maria" is not her, "Ana" is."""
    await rmem.add("My name is Ana Lima. I live in Boston.", user_id="ana")
    await rmem.add(said("Ana Maria", "I live in Paris"), user_id="ana", run_id="r2")
    await rmem.add(said("Ana", "I work at Acme"), user_id="ana", run_id="r3")
    assert await current(rmem, "ana", "profile") == [
        "The user lives in Boston.",
        "The user works at Acme.",
        "The user's name is Ana Lima.",
    ]
    assert await current(rmem, "ana", "fact") == ["Ana Maria lives in Paris."]


async def test_a_named_speaker_of_a_session_where_the_user_speaks_unnamed_is_someone_else(
    rmem: AsyncMemory,
) -> None:
    await rmem.add(said(None, "I live in Boston"), user_id="u", run_id="r")
    await rmem.add(said("Melanie", "I live in Paris"), user_id="u", run_id="r")  # alone in its add
    assert await current(rmem, "u", "profile") == ["The user lives in Boston."]
    assert await current(rmem, "u", "fact") == ["Melanie lives in Paris."]


async def test_a_lone_first_speaker_is_not_the_user_for_good(rmem: AsyncMemory) -> None:
    """A group chat stored one message at a time for "caroline-id": the id names Caroline; whom a
    lone message was taken for does not outlast its add."""
    await rmem.add(said("Melanie", "I live in Paris"), user_id="caroline-id", run_id="g1")
    await rmem.add(said("Caroline", "I live in Boston"), user_id="caroline-id", run_id="g1")
    await rmem.add(said("Caroline", "I work at Acme"), user_id="caroline-id", run_id="dm")
    assert await current(rmem, "caroline-id", "profile") == [
        "The user lives in Boston.",
        "The user works at Acme.",
    ]
    assert await current(rmem, "caroline-id", "fact") == ["Melanie lives in Paris."]


async def test_a_lone_speakers_profile_does_not_make_a_later_one_someone_else(rmem: AsyncMemory) -> None:
    """No name known (an opaque user_id, no name profile): each lone speaker is the user, as
    before speakers were read; the first one's turn does not make them known by name."""
    await rmem.add(said("Caroline", "I live in Boston"), user_id="u-3", run_id="a")
    await rmem.add(said("Caro", "I work at Acme"), user_id="u-3", run_id="b")
    assert await current(rmem, "u-3", "profile") == ["The user lives in Boston.", "The user works at Acme."]
    assert await current(rmem, "u-3", "fact") == []


@pytest.mark.parametrize("run_id", ["r", None])
async def test_an_edited_turn_of_another_speaker_is_still_theirs(
    rmem: AsyncMemory, run_id: str | None
) -> None:
    out = await rmem.add([said(None, "hi"), said("Melanie", "I live in Paris")], user_id="u", run_id=run_id)
    await rmem.update(out[1].id, "I live in Rome")
    assert await current(rmem, "u", "profile") == []
    assert await current(rmem, "u", "fact") == ["Melanie lives in Rome."]


async def test_a_second_speaker_of_a_session_added_turn_by_turn_is_someone_else(rmem: AsyncMemory) -> None:
    await rmem.add(said("Caroline", "Hi Mel, long time no see!"), user_id="u-5", run_id="s1")
    await rmem.add(said("Melanie", "I live in Paris now."), user_id="u-5", run_id="s1")
    assert await current(rmem, "u-5", "profile") == []
    assert await current(rmem, "u-5", "fact") == ["Melanie lives in Paris."]


async def test_what_another_speaker_asks_of_the_assistant_is_not_the_users_wish(rmem: AsyncMemory) -> None:
    await rmem.add([said("Caroline", "Hello!"), said("Melanie", "Don't use emojis!")], user_id="caroline")
    assert await current(rmem, "caroline", "preference") == []
    await rmem.add(said("Caroline", "Please do not use emojis."), user_id="caroline")
    assert await current(rmem, "caroline", "preference") == ["The assistant should not use emojis."]


async def test_a_fact_about_another_speaker_goes_with_their_turn(rmem: AsyncMemory) -> None:
    out = await rmem.add(
        [
            said("Caroline", "I live in Boston"),
            said("Melanie", "I live in Paris"),
            said("Melanie", "I love tea"),
        ],
        user_id="caroline",
    )
    gone = await rmem.delete(out[1].id)
    assert "Melanie lives in Paris." in [m.text for m in gone]
    await rmem.update(out[2].id, "I love coffee")
    assert await current(rmem, "caroline", "fact") == ["Melanie loves coffee."]
    assert await current(rmem, "caroline", "profile") == ["The user lives in Boston."]


async def test_a_locomo_style_conversation_keeps_the_named_users_profile(rmem: AsyncMemory) -> None:
    """The LoCoMo adapter: speaker_a's turns as ``user`` and speaker_b's as ``assistant``, each named."""
    await rmem.add(
        [said("Caroline", "I live in Boston."), said("Melanie", "I live in Paris.", role="assistant")],
        user_id="conv-26", run_id="session_1",
    )  # fmt: skip
    assert await current(rmem, "conv-26", "profile") == ["The user lives in Boston."]
    assert await current(rmem, "conv-26", "fact") == []


async def test_chinese_statements_of_another_speaker_name_them(rmem: AsyncMemory) -> None:
    await rmem.add([said("王芳", "我住在上海。"), said("李娜", "我住在北京。")], user_id="wang")
    assert await current(rmem, "wang", "profile") == []
    assert await current(rmem, "wang", "fact") == ["李娜住在北京。", "王芳住在上海。"]


async def test_two_speakers_saying_the_same_words_are_two_turns(rmem: AsyncMemory) -> None:
    """The duplicate check reads who spoke: Melanie's "I love hiking" after Caroline's is hers too;
    the same speaker saying it again is still a NOOP naming the first turn."""
    both = [said("Caroline", "I love hiking"), said("Melanie", "I love hiking")]
    out = await rmem.add(both, user_id="caroline", run_id="s1")
    assert [r.event.value for r in out[:2]] == ["ADD", "ADD"] and out[0].id != out[1].id
    assert await current(rmem, "caroline", "preference") == ["The user loves hiking."]
    assert await current(rmem, "caroline", "fact") == ["Melanie loves hiking."]
    again = await rmem.add([*both, said("melanie", "I love  hiking")], user_id="caroline", run_id="s1")
    assert [(r.event.value, r.id) for r in again] == [("NOOP", out[0].id), *[("NOOP", out[1].id)] * 2]
    turns = await rmem.get_all(user_id="caroline", run_id="s1", filters={"kind": "episode"})
    assert sorted(m.actor or "" for m in turns.items) == ["Caroline", "Melanie"]


async def test_a_turn_hash_is_its_texts_whoever_said_it(rmem: AsyncMemory) -> None:
    """A stored ``hash`` is the SHA-256 of the normalised text, with or without a speaker, as older
    versions stored it: their stores, exports and imports still match a message said again."""
    from memoryd.models import content_hash

    out = await rmem.add([said(None, "I love hiking"), said("Melanie", "I love hiking")], user_id="u-5")
    assert all(r.memory is not None and r.memory.hash == content_hash("I love hiking") for r in out[:2])
    again = await rmem.add([said(None, "i love hiking"), said("Melanie", "I love hiking")], user_id="u-5")
    assert [(r.event.value, r.id) for r in again] == [("NOOP", out[0].id), ("NOOP", out[1].id)]


async def test_a_turn_said_again_counts_among_the_adds_speakers(rmem: AsyncMemory) -> None:
    """A turn already stored, said again in an add, is one of the add's turns when whose turns are
    the user's is read: the user's unnamed turn beside a named one makes that speaker someone else,
    the repeated turn read with the new ones (one lookup of speakers)."""
    await rmem.add(said(None, "I live in Porto."), user_id="u-8")
    await rmem.add([said(None, "I live in Porto."), said("Melanie", "I live in Paris.")], user_id="u-8")
    assert await current(rmem, "u-8", "profile") == ["The user lives in Porto."]
    assert await current(rmem, "u-8", "fact") == ["Melanie lives in Paris."]


@pytest.mark.parametrize(
    ("actor", "known", "add_named", "add_unnamed", "run_named", "run_unnamed", "user"),
    [
        (None, [], {"melanie"}, True, {"melanie"}, True, True),  # 1: no name
        ("U_7", [], {"u 7", "melanie"}, True, set(), True, True),  # 1: the user_id
        ("Ana", ["Ana Lima"], {"ana"}, True, set(), False, True),  # 1: a known name's first word
        ("ana_lima", ["Ana Lima"], {"ana lima"}, True, set(), False, True),  # 1: spelt as a handle
        ("analima", ["Ana Lima"], {"analima"}, False, set(), False, True),
        ("ana lima", ["Ana"], {"ana lima"}, False, set(), False, True),  # 1: a known first name's
        ("Ana Maria", ["Ana Lima"], {"ana maria"}, False, set(), False, False),  # 2: goes on otherwise
        ("Ana Maria", ["Ana", "Ana Lima"], {"ana maria"}, False, set(), False, False),
        ("Mel", ["Ana"], {"mel"}, False, set(), False, False),  # 2: known by another name
        ("Mel", [], {"mel"}, False, set(), False, True),  # 5: the only speaker, nothing known
        ("Mel", [], {"mel"}, True, set(), False, False),  # 3: beside turns naming no one
        ("Mel", [], {"mel"}, False, set(), True, False),  # 3: a session whose turns name no one
        ("Mel", [], {"mel", "ana"}, False, set(), False, False),  # 4: two speakers, none known
        ("Mel", [], {"mel"}, False, {"ana"}, False, False),  # 4: the session named someone else
        ("Mel", [], {"mel"}, False, {"mel"}, False, True),
    ],
)
def test_whose_statements_a_turn_makes(
    actor: str | None,
    known: list[str],
    add_named: set[str],
    add_unnamed: bool,
    run_named: set[str],
    run_unnamed: bool,
    user: bool,
) -> None:
    from memoryd.ingest.speakers import is_user

    found = is_user(actor, user_id="u-7", known=known, add_named=add_named, add_unnamed=add_unnamed,
                    run_named=run_named, run_unnamed=run_unnamed)  # fmt: skip
    assert found is user


@pytest.mark.parametrize(
    ("actor", "user_id", "user"),
    [
        ("Caroline", "caroline", True),
        ("Caroline Smith", "caroline-id", True),  # the id names Caroline
        ("Melanie", "caroline-id", False),
        ("Ana Maria", "ana", True),  # nothing says she is not
        ("Ana", "ana.lima@example.com", True),
        ("Mel", "ana.lima@example.com", False),
        ("Mel", "u-42", True),  # ids that name no one: the only speaker is the user
        ("Mel", "conv-26", True),
        ("Mel", "user", True),
        ("Mel", "3f2a9c1e-7b4d-4c1a-9e55-0a1b2c3d4e5f", True),
    ],
)
def test_a_user_id_that_reads_as_a_name_is_a_known_name(actor: str, user_id: str, user: bool) -> None:
    from memoryd.ingest.speakers import is_user

    found = is_user(actor, user_id=user_id, known=[], add_named={actor.casefold()}, add_unnamed=False,
                    run_named=set())  # fmt: skip
    assert found is user


async def test_the_users_words_said_again_under_another_of_the_users_names_are_a_noop(
    rmem: AsyncMemory,
) -> None:
    """The duplicate check reads the user as one speaker however the user is named (no name, the
    ``user_id``, the name the user gave): "I like coffee" said three ways is one turn; two other
    speakers saying it stay two turns."""
    await rmem.add("My name is Ana Lima", user_id="ana")
    first = await rmem.add(said(None, "I like coffee"), user_id="ana")
    for name in ("ana", "Ana Lima", "ana_lima", "Ana"):
        again = await rmem.add(said(name, "I like coffee"), user_id="ana")
        assert [(r.event.value, r.id) for r in again] == [("NOOP", first[0].id)], name
    named = await rmem.add(said("Ana Lima", "I drink tea"), user_id="ana")
    again = await rmem.add([said(None, "I drink tea"), said("ana", "I drink tea")], user_id="ana")
    assert [(r.event.value, r.id) for r in again] == [("NOOP", named[0].id)] * 2
    others = await rmem.add(
        [said("Melanie", "I like coffee"), said("Ana Maria", "I like coffee")], user_id="ana"
    )
    assert [r.event.value for r in others[:2]] == ["ADD", "ADD"] and others[0].id != others[1].id
    turns = await rmem.get_all(user_id="ana", filters={"kind": "episode"}, limit=100)
    assert sorted(m.text for m in turns.items) == [
        "I drink tea", "I like coffee", "I like coffee", "I like coffee", "My name is Ana Lima",
    ]  # fmt: skip


async def test_a_display_name_said_again_by_the_user_id_is_one_turn(rmem: AsyncMemory) -> None:
    """With no name given, a ``user_id`` that reads as a name is the user's name: "Ana Lima" is
    user "ana" saying it again; within one add too."""
    out = await rmem.add([said(None, "I like coffee"), said("Ana Lima", "I like coffee")], user_id="ana")
    assert [(r.event.value, r.id) for r in out[:2]] == [("ADD", out[0].id), ("NOOP", out[0].id)]
