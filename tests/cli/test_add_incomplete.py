"""``memoryd add`` reports what fine mode left undone (``llm.incomplete``), as the API does.

Found in a review: the CLI merged its batches' results and dropped ``incomplete``, so ``--json``
said ``"incomplete": null`` for an answer cut short, and the human output never named it.
"""

from __future__ import annotations

from tests.cli.conftest import Run, as_json
from tests.fakes.llm_server import Script

CUT = '{"facts": [{"text": "Ana has a cat", "sources": [0]}, {"text": "Ana has a do'


def _env(fake_llm: Script) -> dict[str, str]:
    return {
        "MEMORYD_LLM_BASE_URL": fake_llm.base_url,
        "MEMORYD_LLM_API_KEY": "sk-cli",
        "MEMORYD_LLM_MODEL": "tiny",
    }


def test_add_json_and_text_say_an_answer_was_cut_short(run: Run, fake_llm: Script) -> None:
    fake_llm.reply_text(CUT)
    doc = as_json(run("add", "I have a cat and a dog", "-u", "ana", "--json", env=_env(fake_llm)))
    assert doc["llm"]["fallback"] is None
    assert doc["llm"]["incomplete"] is not None and "cut short" in doc["llm"]["incomplete"]

    fake_llm.reply_text(CUT.replace("Ana", "Rui"))
    human = run("add", "Rui has a cat and a dog", "-u", "rui", env=_env(fake_llm))
    assert human.exit_code == 0, human.stderr
    [line] = [x for x in human.stdout.splitlines() if x.startswith("LLM incomplete:")]
    assert "cut short" in line


def test_incomplete_notes_of_batches_are_kept_each_once(run: Run, fake_llm: Script) -> None:
    fake_llm.reply_text(CUT)  # batch 1: cut short
    fake_llm.reply_json({"facts": []})  # batch 2: whole, nothing to remember
    fake_llm.reply_text(CUT)  # batch 3: cut short the same way
    args = ("add", "I have a cat and a dog", "The weather is fine", "I have a cat and a dog, again")
    doc = as_json(run(*args, "-u", "ana", "--batch-size", "1", "--json", env=_env(fake_llm)))
    # batch 3's fact is batch 1's: no reconciliation call
    assert doc["llm"]["calls"] == len(fake_llm.requests) == 3
    note = doc["llm"]["incomplete"]
    assert note is not None and note.startswith("the extraction answer was cut short")
    assert note.count("cut short") == 1  # the same note from two batches is said once
