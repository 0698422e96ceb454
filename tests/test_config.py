"""Config: TOML < environment < overrides; unknown keys are named with the allowed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd.config import load_settings
from memoryd.errors import ConfigError


def test_defaults_need_nothing() -> None:
    s = load_settings(env={})
    assert s.storage.records == "sqlite" and s.embedder.provider == "use"
    assert s.storage.path.name == "memoryd.db"


def test_precedence(tmp_path: Path) -> None:
    f = tmp_path / "m.toml"
    f.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\n[search]\ndefault_limit = 7\n')
    s = load_settings(f, env={"MEMORYD_SERVER__PORT": "9100"}, overrides={"search": {"default_limit": 3}})
    assert (s.server.port, s.server.host, s.search.default_limit) == (9100, "0.0.0.0", 3)
    s2 = load_settings(env={"MEMORYD_CONFIG": str(f)})
    assert s2.server.port == 9000


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[storage]\npth = "x"\n', "unknown setting 'storage.pth'"),
        ('[storrage]\npath = "x"\n', "unknown setting 'storrage'"),
        ('[server]\nport = "eighty"\n', "server.port"),
        ('[storage]\nsynchronous = "SOMETIMES"\n', "storage.synchronous"),
        ("storage = 3\n", "must be a table"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_key(tmp_path: Path, toml: str, needle: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(f, env={})
    assert needle in info.value.message


def test_unknown_key_lists_allowed_values(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('[embedder]\nprovidr = "use"\n')
    with pytest.raises(ConfigError, match="allowed: api_key, base_url, batch_size, dim, model, provider, threads"):
        load_settings(f, env={})


def test_misspelled_environment_variable_is_an_error() -> None:
    with pytest.raises(ConfigError, match="storage.pth"):
        load_settings(env={"MEMORYD_STORAGE__PTH": "/x"})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings("/nonexistent/memoryd.toml", env={})


def test_settings_are_frozen_and_redacted() -> None:
    s = load_settings(env={})
    with pytest.raises(Exception, match="frozen"):
        s.server.port = 1  # type: ignore[misc]
    data = s.redacted()
    assert data["storage"]["path"].endswith("memoryd.db")
    assert data["pipeline"]["redis_url"] == "redis://127.0.0.1:6379/0"  # where it points: no secret here
    held = load_settings(env={"MEMORYD_PIPELINE__REDIS_URL": "redis://:hunter2@10.0.0.5:6380/1"})
    assert held.redacted()["pipeline"]["redis_url"] == "redis://:***@10.0.0.5:6380/1"


def test_a_bad_setting_never_shows_the_password_of_a_url() -> None:
    tiers = '[[{"provider": "custom", "base_url": "http://user:Sup3rS3cretPw@host/v1", "colour": "red"}]]'
    with pytest.raises(ConfigError, match="colour") as info:
        load_settings(env={"MEMORYD_LLM__TIERS": tiers})
    assert "Sup3rS3cretPw" not in info.value.message and "http://user:***@host/v1" in info.value.message


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"[search]\ndefault_limit = 3\n# caf\xe9\n", "line 3 is not UTF-8 text"),
        (b"\xff\xfe[search]\n", "line 1 is not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path, content: bytes, needle: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_bytes(content)
    with pytest.raises(ConfigError, match=needle) as info:
        load_settings(f, env={})
    assert str(f) in info.value.message and info.value.field == "config"


def test_a_config_path_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file .*: Is a directory"):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize(
    "env",
    [
        {"MEMORYD_STORAGE": "x", "MEMORYD_STORAGE__PATH": "/tmp/a.db"},
        {"MEMORYD_STORAGE__PATH": "/tmp/a.db", "MEMORYD_STORAGE__PATH__X": "1"},
        {"MEMORYD_STORAGE__PATH__X": "1", "MEMORYD_STORAGE__PATH": "/tmp/a.db"},
    ],
)
def test_variables_for_a_table_and_a_key_inside_it_conflict(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="conflict") as info:
        load_settings(env=env)
    assert all(name in info.value.message for name in env)


def test_an_empty_storage_path_is_refused() -> None:
    """Path("") is "." (the working directory): an error naming the setting, not a store there."""
    with pytest.raises(ConfigError, match="storage.path"):
        load_settings(env={"MEMORYD_STORAGE__PATH": ""})
    with pytest.raises(ConfigError, match="storage.path"):
        load_settings(env={}, overrides={"storage": {"path": "  "}})


def test_settings_with_fixed_choices_take_any_case(tmp_path: Path) -> None:
    env = {"MEMORYD_SERVER__LOG_LEVEL": "INFO", "MEMORYD_SEARCH__FUSION": "RRF"}
    f = tmp_path / "m.toml"
    f.write_text('[storage]\nsynchronous = "normal"\n')
    s = load_settings(f, env=env)
    assert (s.server.log_level, s.search.fusion, s.storage.synchronous) == ("info", "rrf", "NORMAL")
    with pytest.raises(ConfigError, match="search.fusion"):
        load_settings(env={"MEMORYD_SEARCH__FUSION": "ranks"})


def test_a_setting_that_is_not_utf8_is_refused_naming_it() -> None:
    import pytest

    from memoryd.errors import ConfigError

    with pytest.raises(ConfigError, match="model is not valid UTF-8"):
        load_settings(env={"MEMORYD_LLM__MODEL": "\udcfe"})  # the bytes b"\xfe" of an environment


def test_the_test_suites_variables_are_no_settings(tmp_path: Path) -> None:
    """The README tells how to point the tests at one's own servers with MEMORYD_TEST_POSTGRES_URL
    and MEMORYD_TEST_FALKORDB_URL; with one exported, every command failed on an unknown setting."""
    env = {
        "MEMORYD_TEST_POSTGRES_URL": "postgresql://u:p@db/x",
        "MEMORYD_TEST_FALKORDB_URL": "redis://g:6379",
        "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"),
    }
    assert load_settings(env=env).storage.path == tmp_path / "m.db"
    with pytest.raises(ConfigError, match="unknown setting 'tset_x'"):  # a typo of another name still fails
        load_settings(env={"MEMORYD_TSET_X": "1"})


@pytest.mark.parametrize("name", ["MEMORYD_LLM__TIERS", "MEMORYD_LLM_TIERS"])
@pytest.mark.parametrize(
    "value",
    [
        '[[{"provider": "openai", "api_key": "sk-LEAK10"}]',  # one ] short
        '[[{"provider":"openai","auth_token":"sk-LEAK10',  # cut off inside the secret
        "{api_key: sk-LEAK10}",  # not JSON at all
        '[[{"provider": "openai", "base_url": "http://u:sk-LEAK10@h/v1"]]',
        "[[{x" + "a" * 5000 + 'my.api_key=sk-LEAK10, z"auth_token": "sk-LEAK10"',  # keys ending long runs
    ],
)
def test_tiers_that_are_not_json_are_refused_without_echoing_the_key_they_hold(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={name: value})
    assert caught.value.field == "llm.tiers"
    assert "sk-LEAK10" not in caught.value.message and "sk-LEAK10" not in str(caught.value)
    assert "must be a JSON list of tiers" in caught.value.message and "***" in caught.value.message


@pytest.mark.parametrize(
    ("toml", "env", "field"),
    [
        ("[search]\ndense_weight = inf\n", {}, "search.dense_weight"),
        ("[tiers]\nheat_half_life_hours = +inf\n", {}, "tiers.heat_half_life_hours"),
        ('[llm]\ntiers = [[{model = "m", timeout_s = inf}]]\n', {}, "llm.tiers.0.0.timeout_s"),
        ("", {"MEMORYD_LLM__TIMEOUT_S": "inf"}, "llm.timeout_s"),
        ("", {"MEMORYD_LLM__MAX_WAIT_S": "nan"}, "llm.max_wait_s"),
    ],
)
def test_infinite_and_nan_numbers_are_refused(
    tmp_path: Path, toml: str, env: dict[str, str], field: str
) -> None:
    """TOML spells inf and nan, and so can a variable: a weight or timeout of inf was taken, and
    `config show --json` then printed Infinity, which is no JSON."""
    f = tmp_path / "m.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError, match="finite number") as info:
        load_settings(f, env=env)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"MEMORYD_STORAG__PATH": "/tmp/m.db"}, "storag"),
        ({"MEMORYD_SERVR_PORT": "1"}, "servr_port"),
        ({"MEMORYD_SERVER__PORT": "eighty"}, "server.port"),
        ({"MEMORYD_LLM_TIERS": '[[{"modle": "m"}]]'}, "llm.tiers.0.0"),
        ({"MEMORYD_STORAGE__QDRANT": "x"}, "storage.qdrant"),
    ],
)
def test_an_error_from_the_environment_names_the_variable(env: dict[str, str], field: str) -> None:
    """The variable is what the user typed and must fix; the dotted setting alone does not say
    which of a file and the environment set it."""
    with pytest.raises(ConfigError) as info:
        load_settings(env={**env, "MEMORYD_SERVER__HOST": "127.0.0.1"})
    (name,) = env
    assert info.value.field == field and name in info.value.message
    assert "MEMORYD_SERVER__HOST" not in info.value.message


def test_the_async_pipeline_switch_is_among_the_allowed_top_level_keys(tmp_path: Path) -> None:
    f = tmp_path / "m.toml"
    f.write_text("async_pipelin = true\n")
    with pytest.raises(ConfigError, match=r"allowed: async_pipeline, auth, .*storage, tiers$"):
        load_settings(f, env={})
    assert load_settings(env={}, overrides={"async_pipeline": True}).pipeline.enabled


@pytest.mark.parametrize(
    "toml",
    [
        '[storage.postgres]\nurl = ["postgresql://u:LEAK20@h/db"]\n',
        '[pipeline]\nredis_url = { u = "redis://:LEAK20@h:6379/0" }\n',
        '[llm]\napi_key = ["LEAK20"]\n',
        '[llm]\ntiers = [[{ model = "m", api_key = ["LEAK20"] }]]\n',
    ],
)
def test_a_secret_written_as_a_list_or_table_is_not_echoed(tmp_path: Path, toml: str) -> None:
    f = tmp_path / "m.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError, match="valid string") as info:
        load_settings(f, env={})
    assert "LEAK20" not in info.value.message and "LEAK20" not in str(info.value)
