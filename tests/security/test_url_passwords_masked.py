"""A password in a URL setting is masked whatever characters it holds.

The userinfo of a URL was found with a pattern that stopped at a space, a quote or ``<``/``>``
(so that a URL quoted in a message ends where the message goes on): a password holding one of
them (``redis://:pa ss@host``, ``postgresql://u:p"w@db``; people write them unencoded, and
redis-py and httpx read them) matched nothing and was printed whole, by ``memoryd config show``
and in the LLM endpoints ``GET /health`` shows an admin key. A string that is a URL (a setting's
value) now has its userinfo masked up to its last ``@``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from memoryd.cli import app as cli
from memoryd.config import load_settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import running_server
from tests.auth.conftest import bearer, new_key

PASSWORDS = ["pa ss", 'pa"ss', "pa'ss", "pa<ss", "p>w", "two  spaces@and at"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_config_show_masks_a_url_password_of_any_characters(tmp_path: Path, password: str) -> None:
    env = {
        "MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"),
        "MEMORYD_PIPELINE_REDIS_URL": f"redis://:{password}@127.0.0.1:6379/0",
        "MEMORYD_STORAGE__POSTGRES__URL": f"postgresql://u:{password}@db:5432/x",
        "MEMORYD_STORAGE__FALKORDB__URL": f"redis://u:{password}@falkor:6379",
        "MEMORYD_LLM_BASE_URL": f"http://u:{password}@127.0.0.1:9/v1",
        "MEMORYD_LLM_MODEL": "m",
    }
    shown = CliRunner().invoke(cli, ["config", "show", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    text = shown.output.replace('\\"', '"')
    assert password not in text
    for where in ("127.0.0.1:6379/0", "db:5432/x", "falkor:6379", "127.0.0.1:9/v1"):
        assert f":***@{where}" in text  # still says where each points


def test_health_shows_an_admin_the_llm_endpoint_without_its_password(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    llm = {"provider": "openai", "base_url": "http://u:pa ss@127.0.0.1:9/v1", "model": "m",
           "timeout_s": 1, "max_attempts": 1}  # fmt: skip
    settings = load_settings(
        env={}, overrides={"storage": {"path": str(tmp_path / "d" / "m.db")}, "llm": llm}
    )
    admin = bearer(new_key(settings, "admin"))
    with running_server(settings, embedder) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        report = c.get("/health", headers=admin)
    assert report.status_code == 200, report.text
    assert "127.0.0.1:9/v1" in report.text  # the full report, endpoint included
    assert "pa ss" not in report.text and "u:***@127.0.0.1:9/v1" in report.text


def test_a_message_below_a_url_keeps_its_lines() -> None:
    from memoryd.redact import mask_url

    said = mask_url("http://u:pa ss@h:1/v1 failed\nretrying as openai:m@h2")
    assert said == "http://u:***@h:1/v1 failed\nretrying as openai:m@h2"
