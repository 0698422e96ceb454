"""The memory commands end to end, in process, against a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from memoryd.cli import app
from memoryd.config import Settings
from tests.cli.conftest import Run, as_json, expect_error

# Plain episodes: fast mode's rules read nothing in them ("I moved to Lisbon" is a home, "My favourite
# drink is…" a preference: each would add a profile or preference memory to every count and list).
LISBON = "I visited Lisbon last spring"
TEA = "I drank green tea this morning"
COMMANDS = ("serve", "add", "search", "list", "get", "delete", "history", "doctor", "config", "bench")


def _add(run: Run, *texts: str, user: str = "alice") -> list[dict[str, Any]]:
    result = run("add", *texts, "--user-id", user, "--json")
    assert result.exit_code == 0, result.stderr
    return as_json(result)["results"]


def test_add_search_list_get_history_delete_round_trip(run: Run) -> None:
    added = _add(run, LISBON, TEA)
    assert [r["event"] for r in added] == ["ADD", "ADD"]
    assert [r["memory"] for r in added] == [LISBON, TEA]
    lisbon_id, tea_id = added[0]["id"], added[1]["id"]

    hits = as_json(run("search", "which city did she visit?", "-u", "alice", "--json"))["results"]
    assert hits[0]["id"] == lisbon_id and hits[0]["text"] == LISBON
    assert {"score", "kind", "role", "created_at"} <= set(hits[0])

    page = as_json(run("list", "-u", "alice", "--json"))
    assert page["total"] == 2
    assert {m["text"] for m in page["results"]} == {LISBON, TEA}
    assert as_json(run("list", "-u", "bob", "--json"))["total"] == 0

    record = as_json(run("get", tea_id, "--json"))
    assert (record["id"], record["text"], record["user_id"], record["role"]) == (tea_id, TEA, "alice", "user")

    events = [e["event"] for e in as_json(run("history", tea_id, "--json"))["results"]]
    assert events == ["ADD"]

    deleted = as_json(run("delete", tea_id, "--json"))
    assert deleted["deleted"] == 1 and deleted["memory"]["text"] == TEA and deleted["also_deleted"] == []
    expect_error(run("get", tea_id), 1, "no memory with id", "(field: memory_id)")

    history = as_json(run("history", tea_id, "--json"))["results"]
    assert [e["event"] for e in history] == ["ADD", "DELETE"]
    assert history[1]["old_memory"] == TEA
    remaining = as_json(run("list", "-u", "alice", "--json"))["results"]
    assert [m["id"] for m in remaining] == [lisbon_id]


def test_human_output_shows_tables_with_the_content(run: Run) -> None:
    added = run("add", LISBON, "-u", "alice")
    assert added.exit_code == 0 and "ADD" in added.stdout and LISBON in added.stdout
    memory_id = _add(run, TEA)[0]["id"]

    found = run("search", "Lisbon", "-u", "alice", "--explain")
    assert found.exit_code == 0, found.stderr
    assert "score" in found.stdout and LISBON in found.stdout and "bm25" in found.stdout

    listed = run("list", "-u", "alice")
    assert "memories 1–2 of 2" in listed.stdout and memory_id in listed.stdout
    assert "no memories from 11 on, of 2" in run("list", "-u", "alice", "--offset", "10").stdout
    nobody = run("list", "-u", "nobody")
    assert nobody.exit_code == 0 and "no memories" in nobody.stdout and "none of 0" not in nobody.stdout

    shown = run("get", memory_id)
    assert TEA in shown.stdout and "user_id" in shown.stdout
    assert "ADD" in run("history", memory_id).stdout


def test_narrow_terminal_folds_columns_but_keeps_ids_whole(run: Run) -> None:
    memory_id = _add(run, LISBON)[0]["id"]
    result = run("search", "Lisbon", "-u", "alice", env={"COLUMNS": "80"})
    assert memory_id in result.stdout and "episode · user" in result.stdout


def test_json_on_the_root_applies_to_the_command(run: Run) -> None:
    _add(run, LISBON)
    result = run("--json", "list", "-u", "alice")
    assert as_json(result)["results"][0]["text"] == LISBON


def test_duplicate_add_is_a_noop_naming_the_original(run: Run) -> None:
    first = _add(run, TEA)[0]
    again = _add(run, TEA.upper(), TEA)
    assert [r["event"] for r in again] == ["NOOP", "NOOP"]
    assert all(r["id"] == first["id"] and first["id"] in r["reason"] for r in again)

    human = run("add", TEA, "-u", "alice")
    assert human.exit_code == 0 and "NOOP" in human.stdout and "0 added" in human.stdout
    assert as_json(run("list", "-u", "alice", "--json"))["total"] == 1


def test_add_with_metadata_role_and_timestamp_then_filter(run: Run) -> None:
    result = run(
        "add", "Booked a flight to Porto", "-u", "alice", "--role", "assistant",
        "--metadata", '{"topic": "travel"}', "--timestamp", "2024-05-01T10:00:00Z", "--json",
    )  # fmt: skip
    memory_id = as_json(result)["results"][0]["id"]
    _add(run, TEA)
    record = as_json(run("get", memory_id, "--json"))
    assert record["role"] == "assistant" and record["metadata"] == {"topic": "travel"}
    assert record["event_time"].startswith("2024-05-01T10:00:00")
    travel = as_json(run("list", "-u", "alice", "--filters", '{"topic": "travel"}', "--json"))
    assert [m["id"] for m in travel["results"]] == [memory_id]
    hits = as_json(run("search", "drink", "-u", "alice", "--filters", '{"topic": "travel"}', "--json"))
    assert [h["id"] for h in hits["results"]] == [memory_id]


def test_add_from_jsonl_in_batches_keeps_order_and_indexes(run: Run, tmp_path: Path) -> None:
    lines = [json.dumps({"role": "user", "content": f"fact number {i} about the garden"}) for i in range(60)]
    lines.insert(10, "")  # blank lines are skipped
    lines.append(json.dumps("a bare string line"))
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    result = run("add", "--file", str(path), "-u", "alice", "--batch-size", "25", "--json")
    assert result.exit_code == 0, result.stderr
    results = as_json(result)["results"]
    assert [r["index"] for r in results] == list(range(61))
    assert results[42]["memory"] == "fact number 42 about the garden"
    assert results[60]["memory"] == "a bare string line"
    assert as_json(run("list", "-u", "alice", "--limit", "1", "--json"))["total"] == 61


def test_add_from_a_json_list_and_bad_files(run: Run, tmp_path: Path) -> None:
    good = tmp_path / "messages.json"
    good.write_text(json.dumps([{"role": "assistant", "content": "Noted: vegetarian"}, "plain text"]))
    results = as_json(run("add", "-f", str(good), "-u", "alice", "--json"))["results"]
    assert [r["event"] for r in results] == ["ADD", "ADD"]

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"content": "ok"}\n{"content": \n')
    expect_error(run("add", "-f", str(broken), "-u", "alice"), 1, "line 2", "(option: --file/-f)")
    # --file naming no file is a usage error (2); what a file holds that is wrong, bad data (1)
    expect_error(run("add", "-f", str(tmp_path / "missing.jsonl"), "-u", "alice"), 2, "cannot read")
    no_content = tmp_path / "no_content.json"
    no_content.write_text('[{"role": "user"}]')
    expect_error(run("add", "-f", str(no_content), "-u", "alice"), 1, "messages[0].content")
    deep = tmp_path / "deep.json"  # nesting past the parser's stack, a number past Python's digit cap
    deep.write_text("[" * 100_000 + "]" * 100_000)
    expect_error(run("add", "-f", str(deep), "-u", "alice"), 1, "nests too deeply", "(option: --file/-f)")
    huge = tmp_path / "huge.jsonl"
    huge.write_text('"fine"\n' + "1" * 5000 + "\n")
    expect_error(run("add", "-f", str(huge), "-u", "alice"), 1, "line 2 holds a number too long")
    assert as_json(run("list", "-u", "alice", "--json"))["total"] == 2  # the good file's, nothing more


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["search", "tea", "-u", "alice", "--filters", "{not json"],
            ["--filters is not valid JSON", "filters"],
        ),
        (["list", "-u", "alice", "--filters", "[1, 2]"], ["--filters must be a JSON object", "filters"]),
        (["list", "-u", "alice", "--filters", '{"topic": {"$nope": 1}}'], ["unknown operator", "filters"]),
        (["add", "x", "-u", "alice", "--metadata", "nope"], ["--metadata is not valid JSON"]),
        (["add", "x", "-u", "alice", "--role", "robot"], ["role must be one of"]),
        (["add", "x", "-u", "alice", "--timestamp", "yesterday"], ["--timestamp must be ISO 8601"]),
        (["add", "-u", "alice"], ["nothing to add"]),
        (["add", "x"], ["a scope is required"]),
        (["search", "tea"], ["a scope is required"]),
        (["search", "tea", "-u", "alice", "--threshold", "3"], ["threshold"]),
        (["delete", "-u", "alice"], ["give either an ID, or --all"]),
        (["delete", "--all"], ["--all needs a scope"]),
    ],
)
def test_bad_input_is_one_red_line_and_exit_2(run: Run, args: list[str], needles: list[str]) -> None:
    _add(run, TEA)  # a store exists: what is refused is the command line (a usage error: exit 2)
    expect_error(run(*args), 2, *needles)


def test_an_id_that_is_not_there_is_a_failed_operation(run: Run) -> None:
    _add(run, TEA)
    expect_error(run("history", "no-such-id"), 1, "no memory with id")  # the command line was fine


def test_commands_that_read_refuse_a_store_that_does_not_exist(run: Run, clean_env: dict[str, str]) -> None:
    """A mistyped path (or an unmounted volume) must not read as an empty, healthy store."""
    missing = Path(clean_env["MEMORYD_STORAGE__PATH"])
    for args in (["list", "-u", "alice"], ["search", "tea", "-u", "alice"], ["check"], ["reindex"],
                 ["export", str(missing.parent / "backup.jsonl")], ["history", "some-id"]):  # fmt: skip
        expect_error(run(*args), 1, "no store at", "(field: storage.path)")
        assert not missing.exists(), args
    assert not (missing.parent / "backup.jsonl").exists()
    _add(run, TEA)  # add creates it
    assert missing.exists() and as_json(run("list", "-u", "alice", "--json"))["total"] == 1


def test_errors_in_json_mode_are_a_json_document(run: Run) -> None:
    result = run("search", "tea", "-u", "alice", "--filters", "{oops", "--json")
    assert result.exit_code == 2
    assert as_json(result)["error"]["field"] == "filters"
    for option, value in (("--filters", "[" * 5000 + "]" * 5000), ("--metadata", '{"a": ' + "1" * 5000 + "}")):
        command = ["list", "-u", "alice"] if option == "--filters" else ["add", "x", "-u", "alice"]
        result = run(*command, option, value, "--json")
        assert result.exit_code == 2, result.output
        assert as_json(result)["error"]["field"] == option.removeprefix("--")


def test_delete_all_asks_unless_yes(run: Run) -> None:
    _add(run, LISBON, TEA, "I have a cat")
    _add(run, "Bob likes chess", user="bob")
    refused = run("delete", "--all", "-u", "alice", input="n\n")
    expect_error(refused, 1, "nothing deleted", "--yes")
    assert as_json(run("list", "-u", "alice", "--json"))["total"] == 3

    confirmed = run("delete", "--all", "-u", "alice", input="y\n")
    assert confirmed.exit_code == 0 and "deleted 3 memories" in confirmed.stdout
    _add(run, LISBON)
    assert as_json(run("delete", "--all", "-u", "alice", "--yes", "--json")) == {
        "deleted": 1,
        "scope": {"user_id": "alice"},
    }
    assert as_json(run("list", "-u", "alice", "--json"))["total"] == 0
    assert as_json(run("list", "-u", "bob", "--json"))["total"] == 1


def test_unknown_config_key_in_toml_exits_2_naming_it(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "memoryd.toml"
    config.write_text('[storage]\npathh = "/tmp/x.db"\n')
    result = run("--config", str(config), "list", "-u", "alice")
    expect_error(
        result, 2, "unknown setting 'storage.pathh'", str(config), "allowed:", "(field: storage.pathh)"
    )
    # MEMORYD_CONFIG works the same way, and help still works with a broken config.
    assert run("list", "-u", "alice", env={"MEMORYD_CONFIG": str(config)}).exit_code == 2
    assert run("--config", str(config), "add", "--help").exit_code == 0


def test_bad_values_and_missing_files_exit_2(run: Run, tmp_path: Path) -> None:
    expect_error(run("list", "-u", "a", env={"MEMORYD_SEARCH__RRF_K": "-1"}), 2, "search.rrf_k")
    expect_error(run("--config", str(tmp_path / "nope.toml"), "config", "show"), 2, "config file not found")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[storage\n")
    expect_error(run("--config", str(bad_toml), "get", "x"), 2, "not valid TOML")


def test_config_show_is_toml_that_loads_again_with_every_value_shown(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "memoryd.toml"
    config.write_text(
        'async_pipeline = true\n[llm]\ntiers = [[{ provider = "openai", model = "m", api_key = "sk-abcdefgh123" }]]\n'
    )
    shown = run("--config", str(config), "config", "show", env={"MEMORYD_CONTEXT__TOKEN_BUDGET": "500"})
    assert shown.exit_code == 0, shown.stderr
    assert "token_budget = 500  # env MEMORYD_CONTEXT__TOKEN_BUDGET" in shown.stdout  # not a secret
    assert "sk-abcdefgh123" not in shown.stdout and "# api_key = (not set)" in shown.stdout
    assert f"enabled = true  # file {config}" in shown.stdout  # the alias, with its origin
    nested = run("config", "show", env={"MEMORYD_STORAGE__POSTGRES__URL": "postgresql://ana:pw@db/m"})
    line = next(x for x in nested.stdout.splitlines() if x.startswith("postgres = "))
    assert "postgresql://ana:***@db/m" in line and line.endswith("# env MEMORYD_STORAGE__POSTGRES__URL")
    again = tmp_path / "shown.toml"
    again.write_text(shown.stdout)
    assert run("--config", str(again), "config", "show").exit_code == 0


def test_a_config_error_never_prints_a_secret(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "memoryd.toml"
    config.write_text('[llm]\ntiers = [[{ provider = "openai", model = "m", api_key = "sk-SUPERSECRET-123", timout_s = 20 }]]\n')
    for args in (["config", "show"], ["doctor", "--json"]):
        result = run("--config", str(config), *args)
        assert result.exit_code != 0 and "timout_s" in result.stdout + result.stderr
        assert "SUPERSECRET" not in result.stdout + result.stderr


def test_config_show_reports_values_sources_and_masks_secrets(
    run: Run, tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "memoryd.toml"
    config.write_text("[search]\ndefault_limit = 7\n[server]\nport = 9000\n")
    result = run("--config", str(config), "config", "show", "--json", env={"MEMORYD_SERVER__PORT": "9100"})
    doc = as_json(result)
    assert doc["settings"]["storage"]["path"] == str(db_path)
    assert doc["settings"]["search"]["default_limit"] == 7
    assert doc["settings"]["server"]["port"] == 9100
    assert doc["sources"]["storage.path"] == "env MEMORYD_STORAGE__PATH"
    assert doc["sources"]["search.default_limit"] == f"file {config}"
    assert doc["sources"]["server.port"] == "env MEMORYD_SERVER__PORT"
    # Names that merely contain "key" are not secrets.
    assert doc["settings"]["storage"]["keywords"] == "sqlite"

    human = run("config", "show")
    assert f'path = "{db_path}"  # env MEMORYD_STORAGE__PATH' in human.stdout
    assert "[embedder]" in human.stdout and 'provider = "use"  # default' in human.stdout

    # Anything secret-like that a section carries is masked through Settings.redacted().
    real_dump = Settings.model_dump

    def dump_with_secrets(self: Settings, **kwargs: Any) -> dict[str, Any]:
        data = real_dump(self, **kwargs)
        data["llm"] = {"api_key": "sk-live-123", "password": "hunter2", "max_tokens": 512}
        return data

    monkeypatch.setattr(Settings, "model_dump", dump_with_secrets)
    for args in (["config", "show", "--json"], ["config", "show"]):
        shown = run(*args)
        assert shown.exit_code == 0, shown.stderr
        assert "sk-live-123" not in shown.stdout and "hunter2" not in shown.stdout
        assert "***" in shown.stdout and "512" in shown.stdout


def test_default_command_and_serve_call_the_server(
    run: Run, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import memoryd.server.run as server_run

    calls: list[tuple[Settings, str | None, int | None]] = []
    monkeypatch.setattr(server_run, "serve", lambda s, host=None, port=None: calls.append((s, host, port)))
    assert run().exit_code == 0
    assert run("serve", "--host", "0.0.0.0", "--port", "9999").exit_code == 0
    assert [(c[0].storage.path, c[1], c[2]) for c in calls] == [
        (db_path, None, None),
        (db_path, "0.0.0.0", 9999),
    ]


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``command`` (typer vendors click, so duck-type groups)."""
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*prefix, name))
    return paths


def test_help_works_for_every_command_and_group(run: Run) -> None:
    paths = _command_paths(typer.main.get_command(app))
    names = {p[0] for p in paths if p}
    assert set(COMMANDS) <= names
    for path in paths:
        result = run(*path, "--help")
        assert result.exit_code == 0, (path, result.stderr)
        assert "Usage" in result.stdout
        command: Any = typer.main.get_command(app)
        for part in path:
            command = command.commands[part]
        assert command.help or command.short_help, f"{path} has no help text"
    assert run("--version").stdout.strip().startswith("memoryd ")


def test_a_store_a_newer_memoryd_wrote_is_refused_and_left_as_it_is(run: Run, db_path: Path) -> None:
    import sqlite3

    assert run("add", "I keep bees", "-u", "ana").exit_code == 0
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")  # as a newer version leaves it
    conn.close()
    before = db_path.read_bytes()
    expect_error(run("list", "-u", "ana"), 1, "schema version '2'", "newer memoryd", "upgrade memoryd")
    expect_error(run("add", "I keep wasps", "-u", "ana"), 1, "newer memoryd")
    conn = sqlite3.connect(db_path)
    texts = [r[0] for r in conn.execute("SELECT text FROM memories")]
    conn.close()
    assert texts == ["I keep bees"] and db_path.read_bytes() == before


def test_delete_names_what_went_with_the_turn(run: Run) -> None:
    turn = next(r["id"] for r in _add(run, "I love sushi") if r["kind"] == "episode")
    result = run("delete", turn)
    assert result.exit_code == 0, result.stderr
    assert f"deleted {turn}" in result.stdout and "what only it stated: The user loves sushi." in result.stdout
    assert as_json(run("list", "-u", "alice", "--json"))["total"] == 0


def test_a_mistyped_tenant_is_named_with_where_the_tenants_are(run: Run) -> None:
    """It said to set storage.path, which is not what is wrong."""
    assert run("--tenant", "acme", "add", "I keep bees", "-u", "alice").exit_code == 0
    for args in (("--tenant", "acme-typo", "list", "-u", "alice"), ("check", "--tenant", "acme-typo")):
        result = run(*args)
        expect_error(result, 1, "no store for the tenant 'acme-typo'", "tenants")
        assert "storage.path" not in result.stderr
    assert run("--tenant", "acme", "list", "-u", "alice").exit_code == 0


def test_an_mcp_server_bound_to_an_empty_id_does_not_start(run: Run) -> None:
    # a host's `--user-id "${USER_ID}"` with the variable unset: every call would have failed
    for option in ("--user-id", "--agent-id", "--run-id"):
        refused = run("mcp", option, "  ")
        assert refused.exit_code == 2 and option in refused.output and "must not be empty" in refused.output


def test_config_show_keeps_long_lines_whole_so_its_toml_loads_again(run: Run, tmp_path: Path) -> None:
    """A store path longer than the output's width was wrapped in the middle: no TOML any more."""
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / ("and-another-one-below-it-" * 4)
    env = {"MEMORYD_STORAGE__PATH": str(deep / "memoryd.db")}
    shown = run("config", "show", env=env)
    assert shown.exit_code == 0, shown.stderr
    assert f'path = "{deep / "memoryd.db"}"  # env MEMORYD_STORAGE__PATH' in shown.stdout.splitlines()
    again = tmp_path / "shown.toml"
    again.write_text(shown.stdout)
    assert run("--config", str(again), "config", "show", env=env).exit_code == 0


def test_config_show_names_the_key_file_and_tenants_folder_an_unset_setting_uses(
    run: Run, db_path: Path, tmp_path: Path
) -> None:
    """keys.db and tenants/ sit beside the database: shared by the stores of one folder, so shown."""
    shown = run("config", "show").stdout.splitlines()
    assert f"# keys_path = (not set: {db_path.parent / 'keys.db'})  # default" in shown
    assert f"# tenants_dir = (not set: {db_path.parent / 'tenants'})  # default" in shown
    keys = tmp_path / "elsewhere" / "keys.db"
    doc = as_json(run("config", "show", "--json", env={"MEMORYD_AUTH__KEYS_PATH": str(keys)}))
    assert doc["settings"]["auth"]["keys_path"] == str(keys)
    assert doc["unset"] == {"auth.tenants_dir": str(db_path.parent / "tenants")}
