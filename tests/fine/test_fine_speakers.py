"""Fine mode reads a named speaker's profile entries and preferences as the user's only when that
speaker is the user (memoryd/ingest/speakers.py): the model, told to name the speaker, answers
"Melanie lives in Paris" as a profile entry for a conversation stored for Caroline; that is a fact
about Melanie, never Caroline's home, and reconciliation never lets it end, rewrite or stand for
Caroline's (scripted LLM on loopback, real SQLite, real embedder, public API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from memoryd import AsyncMemory
from memoryd.hierarchy.promote import process_turns
from memoryd.ingest.reconcile import Reconciliation, decide
from memoryd.models import AddResult, Event, MemoryRecord
from memoryd.storage import ChangeSet
from tests.fakes.llm_server import Script

CAROLINE = {"user_id": "caroline"}
HOME = {"kind": "profile", "attribute": "location"}


def said(name: str | None, text: str) -> dict[str, str]:
    return {"role": "user", "content": text, **({"name": name} if name else {})}


def entry(text: str, *sources: int, **shape: Any) -> dict[str, Any]:
    return {"text": text, "sources": list(sources), **(shape or HOME)}


def extraction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"facts": list(entries), "relations": []}


def every_fact(event: str = "ADD", target: int | None = None, text: str | None = None) -> str:
    """A reconciliation answer for any number of new facts (given whenever one is asked)."""
    items = [{"fact": i, "event": event, "target": target, "text": text} for i in range(8)]
    return json.dumps({"decisions": items})


async def texts(mem: AsyncMemory, kind: str, user_id: str = "caroline") -> list[str]:
    page = await mem.get_all(user_id=user_id, filters={"kind": kind})
    return sorted(m.text for m in page.items)


async def profile_section(mem: AsyncMemory, question: str, user_id: str = "caroline") -> list[str]:
    built = await mem.context(question, user_id=user_id)
    return [i.text for i in built.items if i.section == "Profile"]


async def carolines_home(mem: AsyncMemory, fake_llm: Script) -> str:
    fake_llm.reply_json(extraction(entry("Caroline lives in Boston", 0)))
    out = await mem.add([said("Caroline", "I live in Boston.")], **CAROLINE)
    [home] = [r for r in out if r.kind == "profile"]
    assert home.id is not None
    return home.id


async def test_another_speakers_home_is_a_fact_about_them_not_the_users_profile(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    boston = await carolines_home(fine, fake_llm)
    fake_llm.reply_json(
        extraction(
            entry("Melanie lives in Paris", 1),
            entry("Melanie loves pottery", 2, kind="preference", preference="explicit"),
        )
    )
    fake_llm.default_text(every_fact("ADD"))
    out = await fine.add(
        [
            said("Caroline", "How are you?"),
            said("Melanie", "I live in Paris now."),
            said("Melanie", "I love pottery."),
        ],
        **CAROLINE,
    )
    assert out.llm is not None and out.llm.fallback is None
    assert await texts(fine, "profile") == ["Caroline lives in Boston"]
    assert (await fine.get(boston)).valid_to is None  # still her home: not superseded
    assert await texts(fine, "preference") == []
    assert await texts(fine, "fact") == ["Melanie lives in Paris", "Melanie loves pottery"]
    paris = next(r for r in out if r.text == "Melanie lives in Paris")
    assert paris.kind == "fact" and paris.event is Event.ADD and paris.id is not None
    stored = await fine.get(paris.id)
    assert stored.metadata["subject"] == "Melanie" and "attribute" not in stored.metadata
    assert stored.source_ids == (out[1].id,)
    assert await profile_section(fine, "where do I live?") == ["Caroline lives in Boston"]
    built = await fine.context("what are my hobbies?", **CAROLINE)
    assert not [i for i in built.items if i.section == "Preferences"]
    hits = await fine.search("Where does Melanie live?", **CAROLINE, filters={"kind": "fact"})
    assert hits[0].memory.text == "Melanie lives in Paris"


async def test_an_entry_saying_the_user_from_another_speakers_turn_names_them(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    await carolines_home(fine, fake_llm)
    fake_llm.reply_json(extraction(entry("The user lives in Paris.", 1)))
    fake_llm.default_text(every_fact("ADD"))
    await fine.add([said("Caroline", "And you?"), said("Melanie", "I live in Paris.")], **CAROLINE)
    assert await texts(fine, "profile") == ["Caroline lives in Boston"]
    assert await texts(fine, "fact") == ["Melanie lives in Paris."]


@pytest.mark.parametrize("event", ["SUPERSEDE", "UPDATE", "DELETE", "NOOP"])
async def test_reconciliation_never_lets_another_speaker_change_the_users_home(
    fine: AsyncMemory, fake_llm: Script, event: str
) -> None:
    """The model pointing Melanie's home at Caroline's (the only memory it is shown)."""
    boston = await carolines_home(fine, fake_llm)
    fake_llm.reply_json(extraction(entry("Melanie lives in Paris", 1)))
    merged = "Caroline and Melanie live in Paris" if event == "UPDATE" else None
    fake_llm.reply_text(every_fact(event, target=0, text=merged))
    out = await fine.add([said("Caroline", "Hi Mel!"), said("Melanie", "I live in Paris.")], **CAROLINE)
    assert len(fake_llm.requests) == 3  # Caroline's home was shown to reconciliation
    kept = await fine.get(boston)
    assert kept.text == "Caroline lives in Boston" and kept.valid_to is None
    assert kept.metadata["attribute"] == "location" and len(kept.source_ids) == 1
    assert await texts(fine, "profile") == ["Caroline lives in Boston"]
    assert await texts(fine, "fact") == ["Melanie lives in Paris"]
    [paris] = [r for r in out if r.kind == "fact"]
    assert paris.event is Event.ADD and "someone else" in (paris.reason or "")
    assert [h.event for h in await fine.history(boston)] == [Event.ADD]
    assert await profile_section(fine, "where do I live?") == ["Caroline lives in Boston"]


async def test_the_users_home_is_not_already_known_as_another_speakers(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """Melanie's home said in fast mode (a fact about her); Caroline then says she lives there too
    and the model calls it known: her home is still stored, Melanie's untouched."""
    out = await fine.add(
        [said("Caroline", "Hi!"), said("Melanie", "I live in Paris.")], **CAROLINE, mode="fast"
    )
    [melanies] = [r for r in out if r.kind == "fact"]
    assert melanies.text == "Melanie lives in Paris." and melanies.id is not None
    fake_llm.reply_json(extraction(entry("Caroline lives in Paris", 0)))
    fake_llm.reply_text(every_fact("NOOP", target=0))
    out = await fine.add([said("Caroline", "I live in Paris too.")], **CAROLINE)
    assert len(fake_llm.requests) == 2  # Melanie's home was shown to reconciliation
    assert [(r.kind, r.event) for r in out if r.kind != "episode"] == [("profile", Event.ADD)]
    assert await texts(fine, "profile") == ["Caroline lives in Paris"]
    assert len((await fine.get(melanies.id)).source_ids) == 1  # not restated by Caroline's turn
    assert await profile_section(fine, "where do I live?") == ["Caroline lives in Paris"]


async def test_the_users_own_home_still_supersedes_theirs_in_the_same_add(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    boston = await carolines_home(fine, fake_llm)
    fake_llm.reply_json(extraction(entry("Caroline lives in Denver", 0), entry("Melanie lives in Paris", 1)))
    fake_llm.default_text(json.dumps({"decisions": [{"fact": 0, "event": "SUPERSEDE", "target": 0}]}))
    out = await fine.add(
        [said("Caroline", "I moved to Denver."), said("Melanie", "I live in Paris.")], **CAROLINE
    )
    denver = next(r for r in out if r.text == "Caroline lives in Denver")
    assert denver.kind == "profile" and denver.event is Event.SUPERSEDE
    assert (await fine.get(boston)).valid_to is not None
    assert await texts(fine, "profile") == ["Caroline lives in Denver"]
    assert await texts(fine, "fact") == ["Melanie lives in Paris"]
    assert await profile_section(fine, "where do I live?") == ["Caroline lives in Denver"]


async def test_an_entry_the_user_stated_too_stays_the_users(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(
        extraction(
            entry("Caroline and Melanie live in Boston", 0, 1),
            entry("Caroline works at Acme", 0, kind="profile", attribute="work"),
        )
    )
    await fine.add([said("Caroline", "We live in Boston."), said("Melanie", "Yes, we do.")], **CAROLINE)
    assert await texts(fine, "profile") == ["Caroline and Melanie live in Boston", "Caroline works at Acme"]
    assert await texts(fine, "fact") == []


async def test_a_lone_named_speaker_with_no_known_name_is_the_user(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """An app that puts the user's display name in ``name`` keeps its profile (as in fast mode)."""
    fake_llm.reply_json(extraction(entry("Ana lives in Porto", 0)))
    await fine.add([said("Ana", "I live in Porto.")], user_id="u-9")
    assert await texts(fine, "profile", "u-9") == ["Ana lives in Porto"]
    assert await texts(fine, "fact", "u-9") == []


async def test_a_later_add_of_another_speaker_alone_is_not_the_user(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """The user_id "caroline" names Caroline: Melanie, alone in a later add of a session, is
    someone else, in fine mode's extraction as in fast mode's rules."""
    boston = await carolines_home(fine, fake_llm)
    fake_llm.reply_json(extraction(entry("Melanie lives in Paris", 0)))
    fake_llm.default_text(every_fact("SUPERSEDE", target=0))
    await fine.add([said("Melanie", "I live in Paris.")], **CAROLINE, run_id="visit")
    assert (await fine.get(boston)).valid_to is None
    assert await texts(fine, "profile") == ["Caroline lives in Boston"]
    assert await texts(fine, "fact") == ["Melanie lives in Paris"]
    # and fast mode's rules read the same names
    await fine.add([said("Melanie", "I work at Globex.")], **CAROLINE, mode="fast")
    assert await texts(fine, "fact") == ["Melanie lives in Paris", "Melanie works at Globex."]
    assert await texts(fine, "profile") == ["Caroline lives in Boston"]


async def test_a_lone_speaker_taken_for_the_user_is_not_known_by_name_after(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """No name known (an opaque user_id): the speaker of the turn a profile entry was read from
    is not the user's name for later adds; another lone speaker is the user too, as before
    speakers were read (nothing says otherwise)."""
    fake_llm.reply_json(extraction(entry("Melanie lives in Paris", 0)))
    await fine.add([said("Melanie", "I live in Paris.")], user_id="u-9", run_id="g1")
    fake_llm.reply_json(extraction(entry("Caroline works at Acme", 0, kind="profile", attribute="work")))
    fake_llm.default_text(every_fact("ADD"))
    await fine.add([said("Caroline", "I work at Acme.")], user_id="u-9", run_id="dm")
    assert await texts(fine, "profile", "u-9") == ["Caroline works at Acme", "Melanie lives in Paris"]
    assert await texts(fine, "fact", "u-9") == []


async def test_a_named_speaker_of_a_session_where_the_user_speaks_unnamed_is_someone_else(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    fake_llm.reply_json(extraction(entry("Lives in Boston", 0)))
    await fine.add([said(None, "I live in Boston.")], user_id="u-9", run_id="r")
    fake_llm.reply_json(extraction(entry("Melanie lives in Paris", 0)))
    fake_llm.default_text(every_fact("SUPERSEDE", target=0))
    await fine.add([said("Melanie", "I live in Paris.")], user_id="u-9", run_id="r")  # alone in its add
    assert await texts(fine, "profile", "u-9") == ["Lives in Boston"]
    assert await texts(fine, "fact", "u-9") == ["Melanie lives in Paris"]


async def test_the_users_id_as_a_name_keeps_a_lone_first_speaker_from_the_profile(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """A group chat stored one message at a time for "caroline-id": Melanie's first message is
    hers, Caroline's later ones, in the session and out of it, the user's."""
    fake_llm.reply_json(extraction(entry("Melanie lives in Paris", 0)))
    fake_llm.default_text(every_fact("ADD"))
    await fine.add([said("Melanie", "I live in Paris.")], user_id="caroline-id", run_id="g1")
    fake_llm.reply_json(extraction(entry("Caroline works at Acme", 0, kind="profile", attribute="work")))
    await fine.add([said("Caroline", "I work at Acme.")], user_id="caroline-id", run_id="dm")
    assert await texts(fine, "profile", "caroline-id") == ["Caroline works at Acme"]
    assert await texts(fine, "fact", "caroline-id") == ["Melanie lives in Paris"]


async def test_a_preference_known_verbatim_as_the_users_is_not_restated_by_another_speaker(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """The same words ("Loves pottery") from Melanie's turn: not the user's preference stated again."""
    pottery = {"kind": "preference", "preference": "explicit"}
    fake_llm.reply_json(extraction(entry("Loves pottery", 0, **pottery)))
    [mine] = [
        r for r in await fine.add([said("Caroline", "I love pottery.")], **CAROLINE) if r.kind == "preference"
    ]
    assert mine.id is not None
    fake_llm.reply_json(extraction(entry("Loves pottery", 1, **pottery)))
    fake_llm.default_text(every_fact("NOOP", target=0))
    out = await fine.add([said("Caroline", "You too?"), said("Melanie", "I love pottery, yes.")], **CAROLINE)
    [theirs] = [r for r in out if r.kind == "fact"]
    assert theirs.event is Event.ADD and theirs.id != mine.id
    assert len((await fine.get(mine.id)).source_ids) == 1
    assert await texts(fine, "preference") == ["Loves pottery"]
    assert (await fine.get(str(theirs.id))).metadata["subject"] == "Melanie"


async def test_turns_stored_first_and_extracted_later_are_read_the_same_way(
    fine: AsyncMemory, fake_llm: Script
) -> None:
    """The hierarchy's later pass over turns stored in fast mode (an LLM outage, say)."""
    boston = await carolines_home(fine, fake_llm)
    out = await fine.add(
        [said("Caroline", "Hi Mel!"), said("Melanie", "I live in Paris.")], **CAROLINE, mode="fast"
    )
    turns = [await fine.get(str(r.id)) for r in out if r.kind == "episode"]

    async def no_rules(turns: list[MemoryRecord], now: datetime, changes: ChangeSet) -> list[AddResult]:
        return []

    fake_llm.reply_json(extraction(entry("Melanie lives in Paris", 1)))
    fake_llm.default_text(every_fact("SUPERSEDE", target=0))
    assert fine._fine is not None
    await process_turns(turns, storage=fine.storage, rules=no_rules, fine=fine._fine, now=datetime.now(UTC))
    assert (await fine.get(boston)).valid_to is None
    assert await texts(fine, "profile") == ["Caroline lives in Boston"]
    # the rules' "Melanie lives in Paris." (fast mode) is the fact the model found: one, not two
    assert [t for t in await texts(fine, "fact") if "Melanie lives in Paris" in t] == ["Melanie lives in Paris."]


def test_decide_adds_a_fact_about_someone_else_beside_the_memory_it_names() -> None:
    raw = Reconciliation.model_validate(
        {
            "decisions": [
                {"fact": 0, "event": "SUPERSEDE", "target": 0},
                {"fact": 1, "event": "NOOP", "target": 0},
            ]
        }
    )
    kept = decide(raw, 2, 1, fallback="-")
    assert [(d.event, d.target) for d in kept] == [("SUPERSEDE", 0), ("ADD", None)]  # ended by fact 0
    apart = decide(raw, 2, 1, fallback="-", apart=lambda fact, target: fact == 0)
    assert [(d.event, d.target) for d in apart] == [("ADD", None), ("NOOP", 0)]  # fact 1 may: known
    assert apart[0].note == "memory [0] is about someone else" and not apart[0].unsettled
