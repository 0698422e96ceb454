"""``memoryd serve``'s log never prints an API key's secret: revoking a leaked key by its full text
(``DELETE /v1/admin/keys/<full key>``) wrote the secret into the access log line of that request,
as did a key misplaced into a query string. The log now shows such a key as
``mdk_<id>_<hidden>``: its id still names it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from memoryd.config import load_settings
from memoryd.server.log_secrets import hide_key_secrets
from tests.auth.conftest import bearer, new_key
from tests.serving import ROOT, free_port

pytestmark = pytest.mark.slow


def test_a_key_in_a_request_path_is_logged_without_its_secret(tmp_path: Path) -> None:
    env = {**os.environ, "MEMORYD_STORAGE__PATH": str(tmp_path / "memoryd.db"), "PYTHONPATH": str(ROOT)}
    settings = load_settings(env={"MEMORYD_STORAGE__PATH": env["MEMORYD_STORAGE__PATH"]})
    admin, leaked = new_key(settings, "admin"), new_key(settings, "user", user_id="ana")
    secret = leaked.split("_", 2)[2]
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "memoryd", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "memoryd serve did not become ready"
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/v1/memories", params={"api_key": leaked}, headers=bearer(admin)).status_code in (
                200,
                422,
            )
            assert http.delete(f"/v1/admin/keys/{leaked}", headers=bearer(admin)).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    text = log.read_text()
    key_id = leaked.split("_")[1]
    assert f"DELETE /v1/admin/keys/mdk_{key_id}_<hidden>" in text, text
    assert secret not in text, text


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("GET /v1/x?api_key=mdk_0123456789ab_s3_cr-3t HTTP/1.1", "GET /v1/x?api_key=mdk_0123456789ab_<hidden> HTTP/1.1"),
        ("DELETE /v1/admin/keys/mdk%5F0123456789ab%5Fs3cr3t", "DELETE /v1/admin/keys/mdk%5F0123456789ab%5F<hidden>"),
        ("DELETE /v1/admin/keys/0123456789ab", "DELETE /v1/admin/keys/0123456789ab"),  # an id alone: kept
    ],
)
def test_only_the_secret_of_a_key_is_hidden(line: str, shown: str) -> None:
    assert hide_key_secrets(line) == shown
