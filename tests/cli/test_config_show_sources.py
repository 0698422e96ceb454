"""``memoryd config show``: where each value came from, key by key, in a table of tables too."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run, as_json


def test_a_key_of_a_table_of_tables_set_by_a_variable_is_shown_as_the_variables(
    run: Run, tmp_path: Path
) -> None:
    """A [storage.qdrant] table in the file was counted as the file's whole: a url the environment
    overrode was labelled as the file's, and so were the keys the file never set."""
    f = tmp_path / "m.toml"
    f.write_text('[storage.qdrant]\nurl = "http://from-file:6333"\napi_key = "LEAK30"\n')
    env = {"MEMORYD_STORAGE__QDRANT__URL": "http://from-env:6333"}
    shown = run("--config", str(f), "config", "show", "--json", env=env)
    assert shown.exit_code == 0, shown.stderr
    data = as_json(shown)
    assert data["settings"]["storage"]["qdrant"]["url"] == "http://from-env:6333"
    assert data["sources"]["storage.qdrant.url"] == "env MEMORYD_STORAGE__QDRANT__URL"
    assert data["sources"]["storage.qdrant.api_key"] == f"file {f}"
    assert "storage.qdrant" not in data["sources"] and "storage.qdrant.collection" not in data["sources"]
    assert "LEAK30" not in shown.stdout
    text = run("--config", str(f), "config", "show", env=env)
    line = next(x for x in text.stdout.splitlines() if x.startswith("qdrant = "))
    assert "from-env" in line and "env MEMORYD_STORAGE__QDRANT__URL" in line and "LEAK30" not in line


def test_a_file_setting_inf_is_refused_and_the_json_answer_stays_json(run: Run, tmp_path: Path) -> None:
    f = tmp_path / "m.toml"
    f.write_text("[search]\ndense_weight = inf\n")
    shown = run("--config", str(f), "config", "show", "--json")
    assert shown.exit_code == 2 and "Infinity" not in shown.stdout
    assert as_json(shown)["error"]["field"] == "search.dense_weight"
