"""The CLI in fine mode: three environment variables turn it on, against the scripted LLM."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json
from tests.fakes.llm_server import Script


def test_add_fine_then_search_with_graph(run: Run, fake_llm: Script) -> None:
    env = {
        "MEMORYD_LLM_BASE_URL": fake_llm.base_url,
        "MEMORYD_LLM_API_KEY": "sk-cli",
        "MEMORYD_LLM_MODEL": "tiny",
    }
    fake_llm.reply_json(
        {
            "facts": [{"text": "Ana works at Globex", "sources": [0]}],
            "relations": [{"source": "Ana", "relation": "works_at", "target": "Globex", "fact": 0}],
        }
    )
    added = as_json(run("add", "I'm Ana and I work at Globex.", "-u", "ana", "--json", env=env))
    assert [(r["kind"], r["event"]) for r in added["results"]] == [("episode", "ADD"), ("fact", "ADD")]
    human = run("search", "Where does Ana work?", "-u", "ana", "--graph-hops", "1", env=env)
    assert human.exit_code == 0, human.stderr
    assert "Ana works at Globex" in human.stdout and "works_at" in human.stdout
    found = as_json(run("search", "Ana", "-u", "ana", "--graph-hops", "1", "--json", env=env))
    assert [(r["source"], r["target"]) for r in found["relations"]] == [("Ana", "Globex")]
    # Forcing fast mode makes no LLM call.
    calls = len(fake_llm.requests)
    fast = as_json(run("add", "Just a note.", "-u", "ana", "--mode", "fast", "--json", env=env))
    assert [r["kind"] for r in fast["results"]] == ["episode"] and len(fake_llm.requests) == calls
