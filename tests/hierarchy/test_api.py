"""A new user chatting through the REST API for many sessions sees the tiers fill; the tree route;
``memoryd tree``."""

from __future__ import annotations

from pathlib import Path

import httpx

from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server
from tests.cli.conftest import Run, as_json, clean_env, db_path, run  # noqa: F401  (fixtures)
from tests.hierarchy.conftest import TOPICS, tier_settings


def test_a_new_user_chatting_over_http_sees_the_tiers_fill(tmp_path: Path, embedder: USEEmbedder) -> None:
    settings = tier_settings(tmp_path, short_term_turns=4, short_term_sessions=2, promote_heat=2.9)
    with running_server(settings, embedder) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        seen = []
        for n, turns in enumerate(TOPICS.values()):
            run_id = f"session-{n}"
            for role, text in turns:
                # what a chat app does each turn: ask for a context, then store the turn
                ctx = c.post("/v1/context", json={"query": text, "user_id": "zoe", "run_id": run_id})
                assert ctx.status_code == 200
                body = {"messages": [{"role": role, "content": text}], "user_id": "zoe", "run_id": run_id}
                assert c.post("/v1/memories", json=body).status_code == 200
            [row] = c.get("/v1/users").json()["results"]
            seen.append(row["tiers"])
        # short-term fills first; then turns flow to mid-term segments; nothing is lost
        assert seen[0]["short_term_turns"] == 4 and seen[0]["mid_term_turns"] == 0
        assert seen[-1]["short_term_turns"] == 8 and seen[-1]["mid_term_turns"] == 8
        assert seen[-1]["segments"] >= 2 and seen[-1]["promoted_segments"] >= 1
        assert [s["short_term_turns"] + s["mid_term_turns"] for s in seen] == [4, 8, 12, 16]

        reply = c.get("/v1/users/zoe/tree", params={"episodes": 2})
        assert reply.status_code == 200
        tree = reply.json()
        assert tree["user_id"] == "zoe" and tree["counts"]["episodes"] == 16
        assert {s["run_id"] for s in tree["short_term"]} == {"session-2", "session-3"}
        segments = [s for topic in tree["topics"] for s in topic["segments"]]
        assert sum(s["turns"] for s in segments) == 8 and all(len(s["episodes"]) <= 2 for s in segments)
        assert any(s["retrievals"] > 0 for s in segments)  # the contexts heated what they used
        for s in segments:
            for e in s["episodes"]:
                assert c.get(f"/v1/memories/{e['id']}", params={"user_id": "zoe"}).status_code == 200
        profile = [m["text"] for m in tree["long_term"]["profile"]]
        assert "The user works at Globex as a data engineer." in profile
        assert c.get("/v1/users/zoe/tree", params={"episodes": -1}).status_code == 422
        nobody = c.get("/v1/users/nobody/tree")  # not an empty tree that looks like a real one
        assert nobody.status_code == 404 and nobody.json()["error"]["field"] == "user_id"

        assert c.delete("/v1/users/zoe").json()["deleted"] >= 16
        assert c.get("/v1/users/zoe/tree").status_code == 404


def test_tree_command(run: Run) -> None:  # noqa: F811
    env = {"MEMORYD_TIERS__SHORT_TERM_TURNS": "2"}
    for role, text in TOPICS["hiking"]:
        assert run("add", text, "-u", "ana", "--run-id", "s1", "--role", role, env=env).exit_code == 0
    shown = run("tree", "-u", "ana", env=env)
    assert shown.exit_code == 0, shown.stderr
    assert "short-term" in shown.stdout and "mid-term" in shown.stdout and "long-term" in shown.stdout
    assert "2 short-term turns, 2 mid-term turns" in shown.stdout
    doc = as_json(run("tree", "-u", "ana", "--episodes", "1", "--json", env=env))
    assert doc["counts"]["mid_term_turns"] == 2 and doc["topics"][0]["segments"][0]["episodes"][0]["id"]
