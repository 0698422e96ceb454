"""``memoryd context``: the block as text, or one JSON document."""

from __future__ import annotations

import pytest

from memoryd import AsyncMemory, InvalidInputError
from memoryd.context.tokens import count_tokens
from tests.cli.conftest import Run, as_json, clean_env, db_path, run  # noqa: F401  (fixtures)


def test_context_command(run: Run) -> None:  # noqa: F811
    env = {"MEMORYD_CONTEXT__FAST_RULES": "true"}
    for text in ("My name is Ana.", "I love hiking.", "My sister Carla lives in Porto."):
        assert run("add", text, "-u", "ana", "--run-id", "s1", env=env).exit_code == 0
    shown = run("context", "where does my sister live", "-u", "ana", "--run-id", "s1", env=env)
    assert shown.exit_code == 0, shown.stderr
    assert "## Profile" in shown.stdout and "The user's name is Ana." in shown.stdout
    assert "## Recent conversation" in shown.stdout and "tokens" in shown.stdout
    body = as_json(run("context", "sister", "-u", "ana", "--budget", "30", "--json", env=env))
    assert body["budget"] == 30 and count_tokens(body["text"]) == body["tokens"] <= 30
    assert all(item["id"].endswith(item["tag"]) for item in body["items"])
    bad = run("context", "sister", "-u", "ana", "--budget", "0", env=env)
    assert bad.exit_code == 2 and "--budget/-b must be an integer" in bad.stderr  # a usage error


def test_context_of_an_agent_or_a_session_alone(run: Run) -> None:  # noqa: F811
    assert run("add", "I schedule meetings on Mondays", "-a", "planner").exit_code == 0
    assert run("add", "We talked about the Lisbon trip", "-r", "s9").exit_code == 0
    agent = as_json(run("context", "when are meetings", "-a", "planner", "--json"))
    assert "I schedule meetings on Mondays" in agent["text"]
    session = as_json(run("context", "which trip", "-r", "s9", "--json"))
    assert "We talked about the Lisbon trip" in session["text"]
    # No scope: the JSON error document naming the field, exit 2 (a usage error).
    nobody = run("context", "anything", "--json")
    assert nobody.exit_code == 2 and as_json(nobody)["error"]["field"] == "user_id"


async def test_the_python_context_takes_an_agent_without_a_user(amem: AsyncMemory) -> None:
    await amem.add("I schedule meetings on Mondays", agent_id="planner")
    built = await amem.context("when are meetings", agent_id="planner")  # user_id was required
    assert "I schedule meetings on Mondays" in built.text
    with pytest.raises(InvalidInputError) as refused:
        await amem.context("anything")
    assert refused.value.field == "user_id"
