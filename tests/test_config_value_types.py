"""A value of the wrong kind in the config file is refused, naming the setting, rather than
turned into another: ``port = true`` ran the server on port 1, ``default_limit = true`` gave one
hit per search, and ``path = 3`` (or ``true``, or a list) made a store named ``3`` (``True``,
``[1]``) in the working directory. A number is no switch and no path; true and false are no
number."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd.config import load_settings
from memoryd.errors import ConfigError

WRONG = [
    ("[server]\nport = true\n", "server.port"),
    ("[search]\ndefault_limit = true\n", "search.default_limit"),
    ("[search]\ndense_weight = false\n", "search.dense_weight"),
    ("[embedder]\ndim = true\n", "embedder.dim"),
    ("[storage]\npath = 3\n", "storage.path"),
    ("[storage]\npath = true\n", "storage.path"),
    ("[storage]\npath = [1]\n", "storage.path"),
    ("[auth]\nkeys_path = 5\n", "auth.keys_path"),
    ("[storage.qdrant]\npath = 7\n", "storage.qdrant.path"),
]


@pytest.mark.parametrize(("toml", "field"), WRONG, ids=[t.replace("\n", " ") for t, _ in WRONG])
def test_a_value_of_the_wrong_kind_is_refused(tmp_path: Path, toml: str, field: str) -> None:
    f = tmp_path / "m.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_settings(f, env={})
    assert err.value.field == field and f"'{field}'" in err.value.message, err.value.message


def test_the_right_kinds_still_load(tmp_path: Path) -> None:
    f = tmp_path / "m.toml"
    f.write_text(
        '[server]\nport = 9000\n[search]\ndense_weight = 1\n[storage]\npath = "~/m.db"\n'
        '[auth]\nkeys_path = ""\n[embedder]\ndim = 0\n'
    )
    s = load_settings(f, env={})
    assert (s.server.port, s.search.dense_weight, s.embedder.dim, s.auth.keys_path) == (9000, 1.0, None, None)
    assert s.storage.path == Path("~/m.db").expanduser()


def test_the_environment_still_spells_numbers_and_paths_as_text(tmp_path: Path) -> None:
    env = {"MEMORYD_SERVER__PORT": "9001", "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db")}
    s = load_settings(env=env)
    assert (s.server.port, s.storage.path) == (9001, tmp_path / "m.db")


@pytest.mark.parametrize("blank", ["   ", "\t"])
def test_a_blank_optional_setting_is_unset_as_an_empty_one(tmp_path: Path, blank: str) -> None:
    """``keys_path = "   "`` put the key store in a file named three spaces in the working
    directory, and ``model = " "`` asked the server for a model named a space; "" meant unset."""
    f = tmp_path / "m.toml"
    f.write_text(
        f'[auth]\nkeys_path = "{blank}"\ntenants_dir = "{blank}"\n[storage.qdrant]\npath = "{blank}"\n'
        f'[embedder]\nmodel = "{blank}"\n[llm]\nmodel = "{blank}"\n'
    )
    s = load_settings(f, env={})
    assert (s.auth.keys_path, s.auth.tenants_dir, s.storage.qdrant.path) == (None, None, None)
    assert (s.embedder.model, s.llm.model, s.llm.configured) == (None, None, False)
    assert s.keys_path() == s.storage.path.parent / "keys.db"
