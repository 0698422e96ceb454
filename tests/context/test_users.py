"""Fast-mode rule memories, the user listing, and forgetting a user in every store."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd import AsyncMemory, Memory, load_settings
from memoryd.context.tokens import count_tokens
from memoryd.embedders.use import USEEmbedder
from memoryd.models import Event, MemoryKind, Scope
from tests.api.conftest import running_server
from tests.context.conftest import OLD_SESSION
from tests.fakes.llm_server import Script
from tests.fine.conftest import llm_settings


async def test_fast_add_derives_profile_and_preferences(rmem: AsyncMemory) -> None:
    out = await rmem.add(
        [
            {"role": "user", "content": "I love green tea. I work at Acme."},
            {"role": "assistant", "content": "I love green tea too."},
            {"role": "user", "content": "我住在杭州"},
        ],
        user_id="ana",
        run_id="s1",
    )
    episodes = [r for r in out if r.kind == "episode"]
    derived = [r for r in out if r.kind != "episode"]
    assert len(episodes) == 3
    assert [(r.kind, r.text, r.reason) for r in derived] == [
        ("preference", "The user loves green tea.", "rule: like"),
        ("profile", "The user works at Acme.", "rule: work"),
        ("profile", "用户住在杭州。", "rule: live"),
    ]
    assert derived[0].sources == (episodes[0].id,) and derived[2].sources == (episodes[2].id,)
    tea = await rmem.get(derived[0].id, user_id="ana")
    assert tea.kind is MemoryKind.PREFERENCE and tea.run_id is None
    assert tea.metadata["polarity"] == "like" and tea.metadata["preference"] == "explicit"
    assert tea.metadata["source_run_id"] == "s1"
    assert (await rmem.get(derived[1].id)).kind is MemoryKind.PROFILE
    [entry] = await rmem.history(tea.id)
    assert entry.event is Event.ADD and entry.actor == "rules:fast"
    prefs = await rmem.search("what does she drink", user_id="ana", filters={"kind": "preference"})
    assert [h.memory.id for h in prefs] == [tea.id]

    again = await rmem.add("I love green tea!", user_id="ana", run_id="s2")
    [noop] = [r for r in again if r.kind == "preference"]
    assert noop.event is Event.NOOP and noop.id == tea.id and "already known" in (noop.reason or "")


async def test_rules_are_on_by_default_in_fast_mode(amem: AsyncMemory) -> None:
    out = await amem.add("I love green tea.", user_id="ana")
    assert [r.kind for r in out] == ["episode", "preference"]
    assert out[1].text == "The user loves green tea." and out[1].sources == (out[0].id,)


async def test_users_lists_owners_with_counts(filled: AsyncMemory) -> None:
    await filled.add("hello from the agent", agent_id="helper")
    rows = await filled.users()
    owners = [(r["user_id"], r["agent_id"]) for r in rows]
    assert owners == [("ana", None), ("bob", None), (None, "helper")]
    ana = rows[0]
    derived = ana["kinds"]["profile"] + ana["kinds"]["preference"]
    assert ana["kinds"]["episode"] == 14 and derived == 5
    assert ana["memories"] == 19
    assert rows[1]["kinds"] == {"episode": 1, "preference": 1}
    assert rows[1]["last_added_at"]
    assert await filled.users(user_id="bob") == [rows[1]]  # one user's rows, read on their own


async def test_forgetting_a_user_leaves_nothing_of_theirs(filled: AsyncMemory) -> None:
    await filled.add("Ana asked me about Porto", user_id="ana", agent_id="helper")
    deleted = await filled.delete_user("ana")
    assert deleted == 20
    assert (await filled.get_all(user_id="ana", include_expired=True)).total == 0
    for query in ("sister Porto", "hiking", "Ana Lima", "Miso the cat"):
        assert list(await filled.search(query, user_id="ana")) == []
        # nothing of hers reaches another scope either (vectors and keywords were emptied)
        assert all(h.memory.user_id != "ana" for h in await filled.search(query, user_id="bob"))
    ctx = await filled.context("sister", user_id="ana", run_id="s2")
    assert ctx.items == [] and count_tokens(ctx.text) == 0
    assert [r["user_id"] for r in await filled.users()] == ["bob"]
    assert (await filled.get_all(user_id="bob")).total == 2


async def test_forgetting_a_user_empties_their_graph(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder
) -> None:
    fake_llm.reply_json(
        {
            "facts": [{"text": "Ana lives in Lisbon", "sources": [0]}],
            "relations": [{"source": "Ana", "relation": "lives in", "target": "Lisbon", "fact": 0}],
        }
    )
    async with AsyncMemory(llm_settings(tmp_path, fake_llm.base_url), embedder=embedder) as mem:
        await mem.add("I'm Ana and I live in Lisbon.", user_id="ana")
        assert await mem.storage.graph.entities(Scope("ana"))
        assert await mem.storage.graph.relations(Scope("ana"), include_expired=True)
        assert await mem.delete_user("ana") == 2
        assert await mem.storage.graph.entities(Scope("ana")) == []
        assert await mem.storage.graph.relations(Scope("ana"), include_expired=True) == []


def test_context_and_users_over_http(tmp_path: Path, embedder: USEEmbedder) -> None:

    settings = load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "http.db")}, "context": {"fast_rules": True}}
    )
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        for role, text in OLD_SESSION:
            body = {"messages": [{"role": role, "content": text}], "user_id": "ana", "run_id": "s1"}
            assert c.post("/v1/memories", json=body).status_code == 200
        c.post("/v1/memories", json={"messages": "I like chess", "user_id": "bob"})
        reply = c.post(
            "/v1/context",
            json={
                "query": "Where does my sister live?",
                "user_id": "ana",
                "run_id": "s1",
                "token_budget": 120,
            },
        )
        assert reply.status_code == 200
        ctx = reply.json()
        assert ctx["budget"] == 120 and 0 < ctx["tokens"] <= 120
        assert count_tokens(ctx["text"]) == ctx["tokens"]
        for item in ctx["items"]:
            assert f"[{item['tag']}] " in ctx["text"] and item["id"].endswith(item["tag"])
            assert c.get(f"/v1/memories/{item['id']}", params={"user_id": "ana"}).status_code == 200
        bad = c.post("/v1/context", json={"query": "x", "user_id": "ana", "token_budget": 0})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "token_budget"
        c.post("/v1/memories", json={"messages": "We fly to Kyoto in April", "run_id": "trip"})
        trip = c.post("/v1/context", json={"query": "when do we fly?", "run_id": "trip"})  # a session of no user
        assert trip.status_code == 200 and "Kyoto" in trip.json()["text"]
        unscoped = c.post("/v1/context", json={"query": "when do we fly?"})
        assert unscoped.status_code == 422 and unscoped.json()["error"]["field"] == "user_id"

        users = c.get("/v1/users").json()["results"]
        assert [(u["user_id"], u["memories"]) for u in users] == [("ana", 15), ("bob", 2), (None, 1)]
        gone = c.delete("/v1/users/ana")
        assert gone.status_code == 200 and gone.json() == {"deleted": 15, "user_id": "ana"}
        assert [u["user_id"] for u in c.get("/v1/users").json()["results"]] == ["bob", None]
        left = c.get("/v1/memories", params={"user_id": "ana"}).json()
        assert left["total"] == 0
        hits = c.post("/v1/memories/search", json={"query": "sister", "user_id": "ana"}).json()
        assert hits["results"] == []


def test_the_sync_client_has_the_same_calls(mem: Memory) -> None:
    mem.add("My sister lives in Porto", user_id="ana")
    ctx = mem.context("sister", user_id="ana", token_budget=50)
    assert [i.section for i in ctx.items] == ["Relevant memories"] and ctx.tokens <= 50
    assert [(u["user_id"], u["memories"]) for u in mem.users()] == [("ana", 1)]
    assert mem.delete_user("ana") == 1 and mem.users() == []


async def test_an_agents_own_context_holds_none_of_its_users_memories(rmem: AsyncMemory) -> None:
    await rmem.add("My name is Ana. I live in Oslo.", user_id="ana", agent_id="bot", run_id="r1")
    await rmem.add("My name is Bob. Please keep your answers concise.", user_id="bob", agent_id="bot", run_id="r1")
    await rmem.add("The bot was restarted after the upgrade.", agent_id="bot", run_id="r1")
    block = await rmem.context("what do you know?", user_id=None, agent_id="bot", run_id="r1")
    assert "restarted" in block.text  # the agent's own memory
    for theirs in ("Ana", "Bob", "Oslo", "concise"):
        assert theirs not in block.text, block.text  # its users' are theirs
    ana = await rmem.context("where do I live?", user_id="ana", agent_id="bot", run_id="r1")
    assert "Oslo" in ana.text and "Bob" not in ana.text


async def test_a_new_home_name_or_workplace_replaces_the_last_in_the_profile(rmem: AsyncMemory) -> None:
    from datetime import timedelta

    await rmem.add("I live in Lisbon. I work at Acme. I love tea.", user_id="ana")
    await rmem.add("I live in Madrid.", user_id="ana")
    await rmem.add("I love coffee.", user_id="ana")  # tastes add up: they replace nothing
    profile = [m.text for m in (await rmem.get_all(user_id="ana", filters={"kind": "profile"})).items]
    assert sorted(profile) == ["The user lives in Madrid.", "The user works at Acme."]
    block = await rmem.context("where do I live?", user_id="ana")
    assert "Madrid" in block.text and "Lisbon" not in block.text.split("## Relevant", 1)[0]
    prefs = [m.text for m in (await rmem.get_all(user_id="ana", filters={"kind": "preference"})).items]
    assert len(prefs) == 2
    # kept, not destroyed: what held then
    every = await rmem.get_all(user_id="ana", filters={"kind": "profile"}, include_expired=True)
    [lisbon] = [m for m in every.items if "Lisbon" in m.text]
    assert lisbon.valid_to is not None
    then = await rmem.get_all(user_id="ana", filters={"kind": "profile"}, as_of=lisbon.valid_to - timedelta(microseconds=1))
    assert "The user lives in Lisbon." in [m.text for m in then.items]
    [entry] = [h for h in await rmem.history(lisbon.id) if h.event is Event.SUPERSEDE]
    assert entry.actor == "rules:fast"


async def test_what_the_rules_read_in_a_turn_goes_when_the_turn_is_edited_or_deleted(rmem: AsyncMemory) -> None:
    [home, durian] = [r for r in await rmem.add(["I live in Lisbon", "I love durian"], user_id="ana") if r.kind == "episode"]
    await rmem.add("I love tea", user_id="ana")  # said in another turn: stays

    async def derived() -> list[str]:
        page = await rmem.get_all(user_id="ana", filters={"kind": {"in": ["profile", "preference"]}})
        return sorted(m.text for m in page.items)

    assert await derived() == ["The user lives in Lisbon.", "The user loves durian.", "The user loves tea."]
    await rmem.update(home.id, "I live in Porto", user_id="ana")
    assert await derived() == ["The user lives in Porto.", "The user loves durian.", "The user loves tea."]
    gone = await rmem.delete(durian.id, user_id="ana")  # says what went with it
    assert [(m.id, m.text) for m in gone[:1]] == [(durian.id, "I love durian")]
    assert [(m.kind, m.text) for m in gone[1:]] == [(MemoryKind.PREFERENCE, "The user loves durian.")]
    assert await derived() == ["The user lives in Porto.", "The user loves tea."]
    block = await rmem.context("what do I like?", user_id="ana")
    assert "durian" not in block.text and "Lisbon" not in block.text


async def test_a_fact_two_turns_state_stays_until_neither_does(rmem: AsyncMemory) -> None:
    [first] = [r for r in await rmem.add("I live in Lisbon.", user_id="ana", run_id="s1") if r.kind == "episode"]
    [second] = [r for r in await rmem.add("I live in Lisbon.", user_id="ana", run_id="s2") if r.kind == "episode"]

    async def homes() -> list[str]:
        return [m.text for m in (await rmem.get_all(user_id="ana", filters={"kind": "profile"})).items]

    await rmem.update(first.id, "I live in Lisbon!", user_id="ana")  # the rules read the same fact
    assert await homes() == ["The user lives in Lisbon."]
    assert len(await rmem.delete(first.id, user_id="ana")) == 1
    assert await homes() == ["The user lives in Lisbon."]  # the s2 turn still says it
    assert [m.text for m in await rmem.delete(second.id, user_id="ana")][1:] == ["The user lives in Lisbon."]
    assert await homes() == []


async def test_deleting_two_neighbouring_turns_at_once_deletes_both(rmem: AsyncMemory) -> None:
    import asyncio

    turns = [
        {"role": "user", "content": "What is my dog's name?"},
        {"role": "user", "content": "My bank PIN is 4921 and my password is swordfish"},
        {"role": "assistant", "content": "Okay, noted."},
    ]
    ids = [r.id for r in await rmem.add(turns, user_id="ana", run_id="s1") if r.kind == "episode"]
    # two DELETE requests at once: each re-indexes the turn after it, which the other deletes
    await asyncio.gather(rmem.delete(ids[1], user_id="ana"), rmem.delete(ids[0], user_id="ana"))
    left = [m.text for m in (await rmem.get_all(user_id="ana", filters={"kind": "episode"})).items]
    assert left == ["Okay, noted."]  # neither came back
    hits = await rmem.search("bank PIN password", user_id="ana", explain=True)
    assert all(h.explain is None or not h.explain["bm25"] for h in hits)  # nor its words


async def test_two_homes_said_in_one_add_leave_the_later_one_current(rmem: AsyncMemory) -> None:
    out = await rmem.add(["I live in Lisbon.", "I work at Acme.", "I live in Madrid."], user_id="ana")
    profile = [m.text for m in (await rmem.get_all(user_id="ana", filters={"kind": "profile"})).items]
    assert sorted(profile) == ["The user lives in Madrid.", "The user works at Acme."]
    [lisbon] = [r for r in out if r.text == "The user lives in Lisbon."]
    assert lisbon.memory is not None and lisbon.memory.valid_to is not None  # the result says so too
    kept = await rmem.get(lisbon.id, user_id="ana")
    assert kept.valid_to == lisbon.memory.valid_to
    assert [h.event for h in await rmem.history(lisbon.id)] == [Event.ADD, Event.SUPERSEDE]
    block = await rmem.context("where do I live?", user_id="ana")
    assert "Lisbon" not in block.text.split("## Relevant", 1)[0]


async def test_two_homes_said_at_one_instant_are_never_current_at_once(rmem: AsyncMemory) -> None:
    from datetime import UTC, datetime, timedelta

    t = datetime(2024, 1, 1, tzinfo=UTC)  # one timestamp for the whole add (a session's date)
    out = await rmem.add(["I live in Lisbon", "I live in Porto", "I live in Faro"], user_id="ana", timestamp=t)
    homes = [r.memory for r in out if r.kind == "profile"]
    for when in (t, t + timedelta(microseconds=1), t + timedelta(microseconds=2), t + timedelta(days=1)):
        held = (await rmem.get_all(user_id="ana", filters={"kind": "profile"}, as_of=when)).items
        assert len(held) == 1, (when, [m.text for m in held])
    now = (await rmem.get_all(user_id="ana", filters={"kind": "profile"})).items
    assert [m.text for m in now] == ["The user lives in Faro."]
    stored = {m.id: m for m in (await rmem.get_all(user_id="ana", include_expired=True, limit=50)).items}
    assert all(m is not None and m == stored[m.id] for m in homes)  # the results say what was stored


async def test_deleting_a_session_takes_what_only_its_turns_stated_and_reopens_the_home_before(
    rmem: AsyncMemory,
) -> None:
    await rmem.add("I live in Lisbon. I love green tea.", user_id="ana", run_id="s1", timestamp="2024-01-01T00:00:00Z")
    await rmem.add("I live in Porto", user_id="ana", run_id="s2", timestamp="2024-06-01T00:00:00Z")
    await rmem.add(["I love jazz music", "I love green tea"], user_id="ana", run_id="s2")
    assert await rmem.delete_all(user_id="ana", run_id="s2") == 3 + 2  # its turns, Porto and jazz
    left = {(m.kind.value, m.text) for m in (await rmem.get_all(user_id="ana", include_expired=True)).items}
    assert left == {
        ("episode", "I live in Lisbon. I love green tea."),
        ("profile", "The user lives in Lisbon."),
        ("preference", "The user loves green tea."),  # s1 stated it too
    }
    [lisbon] = (await rmem.get_all(user_id="ana", filters={"kind": "profile"})).items
    assert lisbon.valid_to is None  # current again
    assert (await rmem.delete_all(user_id="ana", run_id="s1")) == 3  # and then the user has none
    assert (await rmem.get_all(user_id="ana", include_expired=True)).total == 0


async def test_a_home_told_late_is_kept_as_history_not_as_the_current_one(rmem: AsyncMemory) -> None:
    from datetime import UTC, datetime

    await rmem.add("I live in Madrid.", user_id="ana", timestamp="2024-06-01T00:00:00Z")
    await rmem.add("I live in Lisbon.", user_id="ana", timestamp="2023-01-01T00:00:00Z")  # imported history
    profile = [m.text for m in (await rmem.get_all(user_id="ana", filters={"kind": "profile"})).items]
    assert profile == ["The user lives in Madrid."]
    then = await rmem.get_all(user_id="ana", filters={"kind": "profile"}, as_of=datetime(2023, 6, 1, tzinfo=UTC))
    assert [m.text for m in then.items] == ["The user lives in Lisbon."]
    later = await rmem.get_all(user_id="ana", filters={"kind": "profile"}, as_of=datetime(2024, 7, 1, tzinfo=UTC))
    assert [m.text for m in later.items] == ["The user lives in Madrid."]


async def test_a_home_told_late_between_two_others_shortens_the_one_before_it(rmem: AsyncMemory) -> None:
    from datetime import UTC, datetime

    await rmem.add("I live in Lisbon.", user_id="ana", timestamp="2022-01-01T00:00:00Z")
    await rmem.add("I live in Madrid.", user_id="ana", timestamp="2024-01-01T00:00:00Z")
    await rmem.add("I live in Paris.", user_id="ana", timestamp="2023-01-01T00:00:00Z")  # told late

    async def homes(year: int) -> list[str]:
        page = await rmem.get_all(user_id="ana", filters={"kind": "profile"}, as_of=datetime(year, 6, 1, tzinfo=UTC))
        return [m.text for m in page.items]

    assert await homes(2022) == ["The user lives in Lisbon."]
    assert await homes(2023) == ["The user lives in Paris."]  # Lisbon had ended
    assert await homes(2024) == await homes(2026) == ["The user lives in Madrid."]


async def test_a_home_restated_and_left_in_one_add_keeps_both_turns_as_its_sources(rmem: AsyncMemory) -> None:
    [first] = [r for r in await rmem.add("I live in Madrid.", user_id="ana") if r.kind == "episode"]
    out = await rmem.add(["I live in Madrid!", "I live in Lisbon."], user_id="ana")
    [again] = [r for r in out if r.kind == "episode" and "Madrid" in (r.text or "")]
    every = await rmem.get_all(user_id="ana", filters={"kind": "profile"}, include_expired=True)
    [madrid] = [m for m in every.items if "Madrid" in m.text]
    assert madrid.valid_to is not None and set(madrid.source_ids) == {first.id, again.id}
    current = await rmem.get_all(user_id="ana", filters={"kind": "profile"})
    assert [m.text for m in current.items] == ["The user lives in Lisbon."]


async def _homes(mem: AsyncMemory) -> list[tuple[str, str | None]]:
    """Ana's homes as (city, until), current or not, oldest first."""
    page = await mem.get_all(user_id="ana", filters={"kind": "profile"}, include_expired=True)
    ordered = sorted(page.items, key=lambda m: m.valid_from)
    return [(m.text.split()[-1].rstrip("."), m.valid_to and m.valid_to.date().isoformat()) for m in ordered]


async def _turn(mem: AsyncMemory, text: str, when: str) -> str:
    return next(r.id for r in await mem.add(text, user_id="ana", timestamp=when) if r.kind == "episode")


async def test_deleting_the_turn_that_moved_a_home_makes_the_home_before_current_again(rmem: AsyncMemory) -> None:
    # The superseded home stayed ended: a user who deleted the turn had no home at all.
    await _turn(rmem, "I live in Porto", "2024-01-01T00:00:00Z")
    lisbon = await _turn(rmem, "I live in Lisbon", "2024-06-01T00:00:00Z")
    await _turn(rmem, "I live in Madrid", "2024-12-01T00:00:00Z")
    await rmem.delete(lisbon, user_id="ana")
    assert await _homes(rmem) == [("Porto", "2024-12-01"), ("Madrid", None)]  # Porto held until Madrid
    madrid = next(m for m in (await rmem.get_all(user_id="ana", filters={"kind": "episode"})).items if "Madrid" in m.text)
    await rmem.delete(madrid.id, user_id="ana")
    assert await _homes(rmem) == [("Porto", None)]
    [porto] = (await rmem.get_all(user_id="ana", filters={"kind": "profile"})).items
    last = (await rmem.history(porto.id))[-1]
    assert (last.event, last.actor, last.details["reason"]) == (Event.UPDATE, "api:delete", "what superseded it was deleted")
    assert "Porto" in (await rmem.context("where do I live?", user_id="ana")).text


async def test_editing_the_turn_that_moved_a_home_keeps_one_current_home(rmem: AsyncMemory) -> None:
    await _turn(rmem, "I live in Porto", "2024-01-01T00:00:00Z")
    lisbon = await _turn(rmem, "I live in Lisbon", "2024-06-01T00:00:00Z")
    await rmem.update(lisbon, "I live in Madrid", user_id="ana")  # another move, said then
    assert await _homes(rmem) == [("Porto", "2024-06-01"), ("Madrid", None)]
    await rmem.update(lisbon, "I like tea", user_id="ana")  # no move at all
    assert await _homes(rmem) == [("Porto", None)]
    await rmem.update(lisbon, "I live in Porto!", user_id="ana")  # the same home, said again
    assert [city for city, until in await _homes(rmem) if until is None] == ["Porto"]


async def test_a_move_says_which_home_it_replaced(rmem: AsyncMemory) -> None:
    """The new home was reported as a plain ADD; only the old one's history knew, with no new text."""
    await _turn(rmem, "I live in Porto", "2024-01-01T00:00:00Z")
    [porto] = (await rmem.get_all(user_id="ana", filters={"kind": "profile"})).items
    out = await rmem.add("I live in Lisbon", user_id="ana", timestamp="2024-06-01T00:00:00Z")
    [moved] = [r for r in out if r.kind == "profile"]
    assert (moved.event, moved.text, moved.previous) == (Event.SUPERSEDE, "The user lives in Lisbon.", porto.text)
    assert porto.id in str(moved.reason) and moved.to_dict()["previous_memory"] == porto.text
    last = (await rmem.history(porto.id))[-1]
    assert (last.event, last.old_text, last.new_text) == (Event.SUPERSEDE, porto.text, "The user lives in Lisbon.")


async def test_deleting_the_newer_home_itself_makes_the_one_before_current(rmem: AsyncMemory) -> None:
    """Deleting the profile memory (not its turn) that had moved the home left none current."""
    await _turn(rmem, "I live in Porto", "2024-01-01T00:00:00Z")
    await _turn(rmem, "I live in Lisbon", "2024-06-01T00:00:00Z")
    current = (await rmem.get_all(user_id="ana", filters={"kind": "profile"})).items
    [lisbon] = [m for m in current if "Lisbon" in m.text]
    await rmem.delete(lisbon.id, user_id="ana")  # "that was wrong"
    assert await _homes(rmem) == [("Porto", None)]
