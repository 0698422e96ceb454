"""What a client with a wrong or missing API key is told: the key's form, and a command that makes one."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from memoryd import Settings
from memoryd.auth.keys import parse_key
from memoryd.cli import app
from memoryd.errors import AuthenticationError
from tests.api.conftest import Running, error_of
from tests.auth.conftest import new_key

MALFORMED = (
    "the API key is malformed: memoryd API keys look like mdk_<id>_<secret> "
    "(`memoryd keys create --role service` makes one)"
)


def test_a_malformed_key_is_told_what_a_key_looks_like() -> None:
    with pytest.raises(AuthenticationError) as err:
        parse_key("unused")
    assert err.value.message == MALFORMED
    assert "memoryd keys read" not in err.value.message  # read like a command that does not exist


def test_the_sdk_with_a_placeholder_key_gets_the_new_message(
    http: httpx.Client, auth_server: Running, auth_settings: Settings
) -> None:
    new_key(auth_settings, "admin")  # keys are now required
    assert (
        error_of(http.get("/v1/users", headers={"Authorization": "Bearer unused"}), 401)["message"]
        == MALFORMED
    )
    missing = error_of(http.get("/v1/users"), 401)["message"]
    assert "`memoryd keys create --role service` makes one" in missing
    client = openai.OpenAI(base_url=f"{auth_server.url}/v1", api_key="unused", max_retries=0)
    with client, pytest.raises(openai.AuthenticationError) as err:
        client.models.list()
    assert "memoryd API keys look like mdk_<id>_<secret>" in str(err.value)


def test_the_command_the_messages_name_makes_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MEMORYD_"):
            monkeypatch.delenv(name)
    command = re.search(r"`memoryd ([^`]+)`", MALFORMED)
    assert command is not None
    env = {"MEMORYD_STORAGE__PATH": str(tmp_path / "m.db")}
    result = CliRunner().invoke(app, shlex.split(command.group(1)), env=env)
    assert result.exit_code == 0, result.stderr
    parse_key(result.stdout.strip().splitlines()[0])
