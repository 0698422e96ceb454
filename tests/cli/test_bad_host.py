"""A server address no socket can bind or URL can hold (``[::1`` with its bracket left open, a
name longer than DNS allows, a URL, nothing at all) ended ``memoryd serve --check`` and
``memoryd doctor`` in a Python traceback (httpx's InvalidURL, the idna codec's UnicodeError).
Now ``server.host`` is refused when the settings load, naming it, and so is ``serve --host``:
one line, exit 2 (``serve --check``, a health check: 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoryd.config import load_settings
from memoryd.errors import ConfigError
from tests.cli.conftest import Run, as_json, expect_error

BAD = ["[::1", "a" * 300, "http://127.0.0.1", "host name", "", "   ", "127.0.0.1:8420"]
GOOD = ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost", "memoryd.lan", "memoryd_api", "fe80::1%eth0"]


@pytest.mark.parametrize("host", BAD, ids=lambda h: repr(h[:12]))
def test_doctor_names_the_setting_without_a_traceback(run: Run, host: str) -> None:
    result = run("doctor", "--json", env={"MEMORYD_SERVER__HOST": host})
    assert result.exit_code == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    config = next(c for c in as_json(result)["checks"] if c["name"] == "config")
    assert config["status"] == "fail" and "server.host" in config["detail"], config


@pytest.mark.parametrize("host", BAD, ids=lambda h: repr(h[:12]))
def test_serve_check_refuses_the_setting(run: Run, host: str) -> None:
    result = run("serve", "--check", env={"MEMORYD_SERVER__HOST": host})
    expect_error(result, 1, "server.host", "MEMORYD_SERVER__HOST")  # a health check: 0 or 1


@pytest.mark.parametrize("host", BAD, ids=lambda h: repr(h[:12]))
def test_serve_check_refuses_the_option(run: Run, host: str) -> None:
    result = run("serve", "--check", "--host", host, "--json")
    expect_error(result, 2, "--host")
    assert as_json(result)["error"]["field"] == "host"


@pytest.mark.parametrize("host", GOOD)
def test_addresses_and_names_still_load(host: str) -> None:
    assert load_settings(env={"MEMORYD_SERVER__HOST": host}).server.host == host


def test_the_file_names_the_setting_too(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[server]\nhost = "http://0.0.0.0"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert err.value.field == "server.host" and "host name" in err.value.message
