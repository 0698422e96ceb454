"""``memoryd mcp --user-id`` (or ``--agent-id``, ``--run-id``) with a value no scope may hold: over 512
characters, a control character (a host's template that pasted a line break), not UTF-8. The server
started and then failed every call ("user_id is 5000 characters ...") with an error the model could
not correct, as the bound scope is the server's. It is now refused at start, exit 2, naming the
option, as an empty value already was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memoryd import AsyncMemory, InvalidInputError
from memoryd.mcp import McpSession
from memoryd.mcp.tools import bound_scope

LIST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "list_memories", "arguments": {}}}) + "\n"  # fmt: skip
BAD = [
    ("--user-id", "u" * 600, "Invalid value for --user-id/-u: is 600 characters; at most 512 are allowed"),
    ("--agent-id", "bot\nname", "Invalid value for --agent-id/-a: holds a control character ('\\n')"),
    ("--run-id", "s\t1", "Invalid value for --run-id/-r: holds a control character ('\\t')"),
]


@pytest.mark.parametrize(("option", "value", "said"), BAD, ids=[o for o, _, _ in BAD])
def test_mcp_bound_to_an_id_no_scope_may_hold_is_refused_at_start(
    tmp_path: Path, option: str, value: str, said: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env |= {"MEMORYD_STORAGE__PATH": str(tmp_path / "m.db"), "HF_HUB_OFFLINE": "1"}
    server = subprocess.run(
        [sys.executable, "-m", "memoryd", "mcp", option, value], input=LIST, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert server.returncode == 2, (server.stdout, server.stderr)
    assert server.stdout == ""  # no protocol message: the host sees the server fail to start
    errors = [line for line in server.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and said in errors[0], server.stderr
    assert "Traceback" not in server.stderr
    assert not (tmp_path / "m.db").exists()


async def test_bound_scope_refuses_what_a_scope_refuses(amem: AsyncMemory) -> None:
    for scope in ({"user_id": "u" * 513}, {"agent_id": "a\x00b"}, {"run_id": "\x1b[31m"}):
        with pytest.raises(InvalidInputError) as refused:
            bound_scope(scope.get("user_id"), scope.get("agent_id"), scope.get("run_id"))
        assert refused.value.field == next(iter(scope))

    async def send(message: object) -> None:
        raise AssertionError(message)

    with pytest.raises(InvalidInputError):
        McpSession(amem, send, user_id="u" * 513)
    assert bound_scope("u" * 512, "a", None) == {"user_id": "u" * 512, "agent_id": "a"}
