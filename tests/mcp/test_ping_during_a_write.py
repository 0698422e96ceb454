"""A ``ping`` (which MCP asks be answered promptly), a ``tools/list`` or an ``initialize`` does not
wait behind a write under way: a fine-mode add held up by its LLM, in a real ``memoryd mcp`` over
stdio. A tool call still waits for the writes sent before it (it may read what they store)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeLLMServer, Reply, Script
from tests.mcp.test_stdio import _env, _request

pytestmark = pytest.mark.slow


def test_a_ping_is_answered_while_an_add_waits_on_its_llm(
    tmp_path: Path, fake_llm: Script, fake_llm_server: FakeLLMServer
) -> None:
    fake_llm.hang(20, then=Reply(text=json.dumps({"facts": []})))  # until the reset below
    env = {**_env(tmp_path / "m.db"), "MEMORYD_LLM_BASE_URL": fake_llm.base_url,
           "MEMORYD_LLM_API_KEY": "sk-mcp", "MEMORYD_LLM_MODEL": "tiny"}  # fmt: skip
    with subprocess.Popen(
        [sys.executable, "-m", "memoryd", "mcp", "--user-id", "ana"],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    ) as server:  # fmt: skip
        assert server.stdin is not None and server.stdout is not None
        add = {"name": "add_memory", "arguments": {"messages": "I keep bees.", "mode": "fine"}}
        server.stdin.write(_request(1, "tools/call", add) + _request(2, "ping") + _request(3, "tools/list"))
        server.stdin.flush()
        first = [json.loads(server.stdout.readline())["id"] for _ in range(2)]
        assert sorted(first) == [2, 3]  # while the add still waits on the LLM
        fake_llm_server.reset()  # the LLM answers: the add finishes
        server.stdin.close()
        (last,) = [json.loads(line) for line in server.stdout.read().splitlines()]
        assert last["id"] == 1 and last["result"]["isError"] is False, last
        assert server.wait(timeout=60) == 0
