"""``memoryd context``: the block as text, or one JSON document."""

from __future__ import annotations

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
    assert bad.exit_code == 1 and "--budget/-b must be an integer" in bad.stderr
