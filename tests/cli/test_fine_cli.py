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


def test_add_reports_mode_llm_and_relations_merged_over_batches(run: Run, fake_llm: Script) -> None:
    env = {
        "MEMORYD_LLM_BASE_URL": fake_llm.base_url,
        "MEMORYD_LLM_API_KEY": "sk-cli",
        "MEMORYD_LLM_MODEL": "tiny",
    }
    fake_llm.reply_text("The user seems to like cats.", times=2)  # batch 1: prose, asked twice, falls back
    fake_llm.reply_json(
        {
            "facts": [{"text": "Ana works at Globex", "sources": [0]}],
            "relations": [{"source": "Ana", "relation": "works_at", "target": "Globex", "fact": 0}],
        }
    )
    args = ("add", "I adore cats.", "I work at Globex.", "-u", "ana", "--batch-size", "1", "--json")
    doc = as_json(run(*args, env=env))
    assert len(fake_llm.requests) == 3
    assert doc["mode"] == "fine"
    assert doc["llm"]["calls"] == 3 and doc["llm"]["prompt_tokens"] > 0
    assert "stored as in fast mode" in doc["llm"]["fallback"]
    assert [(r["source"], r["target"]) for r in doc["relations"]["added_entities"]] == [("Ana", "Globex")]
    # batch 1 fell back to fast mode, its rules included: the preference the rules read
    assert [(r["index"], r["kind"]) for r in doc["results"]] == [
        (0, "episode"), (0, "preference"), (1, "episode"), (0, "fact"),
    ]  # fmt: skip


def test_add_says_why_fine_mode_fell_back(run: Run) -> None:
    env = {
        "MEMORYD_LLM_BASE_URL": "http://127.0.0.1:1/v1",
        "MEMORYD_LLM_MODEL": "x",
        "MEMORYD_LLM_MAX_ATTEMPTS": "1",
    }
    doc = as_json(run("add", "My brother Rui lives in Braga", "-u", "cli", "--json", env=env))
    assert doc["mode"] == "fine" and "LLM unavailable" in doc["llm"]["fallback"]
    human = run("add", "My cousin Ana lives in Faro", "-u", "cli", env=env)
    assert human.exit_code == 0, human.stderr
    assert "fine mode: 1 LLM call," in human.stdout  # made, though it never answered
    assert "LLM fallback: LLM unavailable, stored as in fast mode" in human.stdout
