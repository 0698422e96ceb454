"""``memoryd mcp`` in a real subprocess, spoken to over its stdin and stdout as an MCP client does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from memoryd import Memory, load_settings
from memoryd.mcp.stdio import _protocol_stdout

pytestmark = pytest.mark.slow


def _env(store: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    return {**clean, "MEMORYD_STORAGE__PATH": str(store), "HF_HUB_OFFLINE": "1"}


def _start(store: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "memoryd", "mcp", *args],
        env=_env(store), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _request(request_id: int, method: str, params: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return (json.dumps(message) + "\n").encode()


def test_a_client_session_over_stdio(tmp_path: Path) -> None:
    store = tmp_path / "m.db"
    server = _start(store, "--user-id", "alice")
    lines = [
        _request(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                   "clientInfo": {"name": "test", "version": "1"}}),
        b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n',
        _request(2, "tools/list"),
        _request(3, "tools/call", {"name": "add_memory", "arguments": {
            "messages": [{"role": "user", "content": "Mi hermana vive en Sevilla y yo trabajo en Madrid."}]}}),
        _request(4, "tools/call", {"name": "search_memories", "arguments": {"query": "¿Dónde vive mi hermana?"}}),
    ]  # fmt: skip
    out, err = server.communicate(b"".join(lines), timeout=120)  # stdin closes after the last line
    assert server.returncode == 0, err.decode()
    replies = [json.loads(line) for line in out.decode().splitlines()]  # only protocol messages on stdout
    by_id = {r["id"]: r for r in replies}
    assert sorted(by_id) == [1, 2, 3, 4]
    assert by_id[1]["result"]["protocolVersion"] == "2025-06-18"
    assert len(by_id[2]["result"]["tools"]) == 8
    assert by_id[3]["result"]["structuredContent"]["results"][0]["event"] == "ADD"
    hits = by_id[4]["result"]["structuredContent"]["results"]
    assert hits and "Sevilla" in hits[0]["memory"]

    with Memory(load_settings(env={}, overrides={"storage": {"path": str(store)}})) as mem:
        stored = mem.get_all(user_id="alice").items  # the write is in the store the server used
    assert [m.text for m in stored] == ["Mi hermana vive en Sevilla y yo trabajo en Madrid."]


def test_end_of_input_lets_a_write_under_way_finish(tmp_path: Path) -> None:
    store = tmp_path / "m.db"
    server = _start(store)
    add = _request(1, "tools/call", {"name": "add_memory", "arguments": {
        "user_id": "bo", "messages": "Remember that my flight leaves on Friday at 7."}})  # fmt: skip
    out, err = server.communicate(add, timeout=120)  # EOF right behind the request
    assert server.returncode == 0, err.decode()
    assert json.loads(out)["result"]["isError"] is False
    with Memory(load_settings(env={}, overrides={"storage": {"path": str(store)}})) as mem:
        assert mem.get_all(user_id="bo").total == 1


def test_a_write_whose_cancel_comes_too_late_to_stop_it_is_answered(tmp_path: Path) -> None:
    """A ``notifications/cancelled`` for an add already under way cannot undo it: the add stores,
    and its answer reaches the client (it was withheld, so the client never learned of the write;
    MCP lets a receiver ignore a cancel that cannot stop a request, as the HTTP transport does)."""
    store = tmp_path / "m.db"
    server = _start(store)
    add = _request(1, "tools/call", {"name": "add_memory", "arguments": {
        "user_id": "bo", "messages": "Remember that my sister lives in Porto."}})  # fmt: skip
    cancel = b'{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}\n'
    out, err = server.communicate(add + cancel + _request(2, "ping"), timeout=120)
    assert server.returncode == 0, err.decode()
    by_id = {r["id"]: r for r in (json.loads(line) for line in out.decode().splitlines())}
    assert sorted(by_id) == [1, 2], by_id
    result = by_id[1]["result"]
    assert result["isError"] is False and result["structuredContent"]["results"][0]["event"] == "ADD"
    with Memory(load_settings(env={}, overrides={"storage": {"path": str(store)}})) as mem:
        stored = [m.text for m in mem.get_all(user_id="bo").items]
    assert stored == ["Remember that my sister lives in Porto."]  # what the answer said it stored


def test_an_over_long_message_gets_its_parse_error_and_the_next_one_its_answer(tmp_path: Path) -> None:
    from memoryd.mcp.stdio import MAX_LINE_BYTES

    server = _start(tmp_path / "m.db")
    long = b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "' + b"a" * MAX_LINE_BYTES + b'"}}\n'
    out, err = server.communicate(long + _request(2, "ping"), timeout=120)
    assert server.returncode == 0, err.decode()
    answers = [json.loads(line) for line in out.splitlines()]
    assert answers == [
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "message too long"}},
        {"jsonrpc": "2.0", "id": 2, "result": {}},
    ]


def test_a_config_error_is_one_line_on_stderr(tmp_path: Path) -> None:
    env = {**_env(tmp_path / "m.db"), "MEMORYD_STORAGE__RECORDZ": "sqlite"}
    done = subprocess.run([sys.executable, "-m", "memoryd", "mcp"], env=env, input=b"", capture_output=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2 and done.stdout == b""
    assert "recordz" in done.stderr.decode().lower()


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_store_that_cannot_open_is_an_error_on_stderr_only(tmp_path: Path, json_flag: list[str]) -> None:
    # --json (a wrapper may add it) must not put an error document on the protocol's stdout
    (tmp_path / "file").write_text("not a folder")
    env = _env(tmp_path / "file" / "m.db")
    done = subprocess.run([sys.executable, "-m", "memoryd", *json_flag, "mcp"], env=env, input=b"",
                          capture_output=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0 and done.stdout == b""
    assert "error" in done.stderr.decode().lower()


def test_stray_writes_to_stdout_go_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with _protocol_stdout() as out:
        print("a library talking")
        os.write(1, b"a C extension talking\n")
        out.write(b'{"jsonrpc": "2.0"}\n')
        out.flush()
    captured = capfd.readouterr()
    assert captured.out == '{"jsonrpc": "2.0"}\n'
    assert "a library talking" in captured.err and "a C extension talking" in captured.err


async def test_an_over_long_line_is_answered_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import io

    from memoryd.mcp import stdio

    monkeypatch.setattr(stdio, "MAX_LINE_BYTES", 64)
    source = io.BytesIO(b'{"jsonrpc": "2.0", "id": 1, "method": "' + b"x" * 500 + b'"}\n{"id": 2}\n')
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, stdio._read_lines, source, loop, lines)
    got = [await lines.get() for _ in range(3)]
    assert json.loads(got[0] or b"")["error"]["code"] == -32700  # the long one, answered
    assert got[1] == b'{"id": 2}\n' and got[2] is None  # the next line is read whole, then the end


async def test_a_flood_of_input_waits_on_stdin_instead_of_filling_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import threading

    from memoryd.mcp import stdio

    monkeypatch.setattr(stdio, "MAX_QUEUED_BYTES", 1000)
    line = b'{"jsonrpc": "2.0", "method": "notifications/x"}\n'  # 48 bytes

    class Flood:  # a client that never stops sending
        def __init__(self) -> None:
            self.read = 0

        def readline(self, size: int = -1, /) -> bytes:
            self.read += 1
            return line

    source, inbox = Flood(), stdio._Inbox()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=stdio._read_lines, args=(source, loop, lines, None, inbox), daemon=True).start()
    await asyncio.sleep(0.3)  # nobody takes a line meanwhile
    held = source.read
    assert held <= 1000 // len(line) + 2  # what fits, and the one line the reader holds
    await asyncio.sleep(0.2)
    assert source.read == held  # stdin waits: it is not read on into memory
    for _ in range(10):  # the server takes lines: reading goes on
        inbox.release(len(await asyncio.wait_for(lines.get(), 5) or b""))
    await asyncio.sleep(0.2)
    assert source.read >= held + 10


def test_a_lone_surrogate_is_answered_not_a_crash(tmp_path: Path) -> None:
    server = _start(tmp_path / "m.db")
    lines = [
        b'{"jsonrpc": "2.0", "id": "\\ud800", "method": 5}\n',  # answered at once: it crashed the server
        b'{"jsonrpc": "2.0", "id": 2, "method": "\\udfff"}\n',  # answered from a task: it was never answered
        _request(3, "ping"),
    ]
    out, err = server.communicate(b"".join(lines), timeout=120)
    assert server.returncode == 0, err.decode()
    replies = [json.loads(line) for line in out.decode("utf-8").splitlines()]  # valid UTF-8 JSON
    by_id = {r["id"]: r for r in replies}
    assert sorted(by_id, key=str) == [2, 3, "\ud800"]  # the client gets back the id it sent
    assert by_id["\ud800"]["error"]["code"] == -32600 and by_id[2]["error"]["code"] == -32601


def _started(store: Path) -> subprocess.Popen[bytes]:
    server = _start(store)
    assert server.stdin is not None and server.stdout is not None
    search = {"name": "search_memories", "arguments": {"user_id": "u", "query": "anything"}}
    server.stdin.write(_request(1, "tools/call", search))
    server.stdin.flush()
    assert json.loads(server.stdout.readline())["id"] == 1  # up, its model loaded, its SIGTERM handler set
    return server


def test_sigterm_ends_the_server_cleanly(tmp_path: Path) -> None:
    server = _start(tmp_path / "m.db", "--user-id", "a")
    assert server.stdin is not None
    server.stdin.write(_request(1, "tools/list"))
    server.stdin.flush()
    time.sleep(3)  # answered; the reader thread is blocked reading stdin
    server.send_signal(signal.SIGTERM)
    out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err.decode()  # it aborted (-6): "could not acquire lock for <stdin>"
    assert json.loads(out)["id"] == 1 and b"Fatal Python error" not in err


def test_sigterm_ends_a_server_whose_client_stopped_reading(tmp_path: Path) -> None:
    server = _started(tmp_path / "m.db")
    assert server.stdin is not None
    server.stdin.write(b"".join(_request(i, "tools/list") for i in range(2, 400)))  # MBs of answers
    server.stdin.flush()
    time.sleep(2)  # the answers fill the pipe, which the client does not read
    server.send_signal(signal.SIGTERM)
    try:
        assert server.wait(timeout=60) == 0  # it hung for ever, blocked writing stdout
    finally:
        server.kill()
        server.communicate()


@pytest.mark.parametrize("closed", [0, 1])
def test_a_server_started_with_stdin_or_stdout_closed_says_so_in_one_line(tmp_path: Path, closed: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "memoryd", "mcp"], env=_env(tmp_path / "m.db"), stdin=subprocess.PIPE,
        capture_output=True, preexec_fn=lambda: os.close(closed), timeout=120,
    )  # fmt: skip
    said = done.stderr.decode()
    name = ("stdin", "stdout")[closed]
    assert done.returncode == 1 and "Traceback" not in said, said
    assert f"{name} is closed: start it from an MCP client" in said
