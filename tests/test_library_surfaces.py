"""The four Python surfaces agree on names and arguments (AsyncMemory, Memory, AsyncMemoryClient,
MemoryClient), and the synchronous wrappers behave in the ways an app uses them: from a forked
child, pickled, closed twice, called after close, made and closed many times."""

from __future__ import annotations

import inspect
import multiprocessing
import os
import pickle
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

import memoryd
from memoryd import AsyncMemory, AsyncMemoryClient, Memory, MemoryClient, Settings
from memoryd.embedders.use import USEEmbedder

# Where a surface may differ from AsyncMemory, and why (README, "Remote client").
SERVED = {"add", "search", "get", "get_all", "update", "delete", "delete_all", "history", "context",
          "users", "tree", "delete_user", "reset", "health", "close"}  # fmt: skip
EXTRA_PARAMS = {
    # the async pipeline's idempotency key: only a server has the pipeline
    ("add", "event_id"),
}
MISSING_PARAMS = {
    # the pipeline queue's clock, passed by the server's own routes, not by an app
    ("reset", "queue_mark_ms"),
    ("delete_user", "queue_mark_ms"),
}


def _public(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


def _methods(cls: type) -> set[str]:
    return {n for n in _public(cls) if inspect.isfunction(inspect.getattr_static(cls, n))}


def _params(cls: type, name: str) -> dict[str, tuple[Any, Any]]:
    sig = inspect.signature(getattr(cls, name))
    return {p.name: (p.kind, p.default) for p in sig.parameters.values() if p.name != "self"}


def _drift(core: type, other: type, names: set[str], remote: bool) -> list[str]:
    found = []
    for name in sorted(names):
        mine, theirs = _params(core, name), _params(other, name)
        for p in sorted(mine.keys() | theirs.keys()):
            allowed = remote and ((name, p) in EXTRA_PARAMS | MISSING_PARAMS)
            if mine.get(p) != theirs.get(p) and not allowed:
                found.append(f"{other.__name__}.{name}({p}): {theirs.get(p)} vs {mine.get(p)}")
        core_ret = inspect.signature(getattr(core, name)).return_annotation
        their_ret = inspect.signature(getattr(other, name)).return_annotation
        if core_ret != their_ret and name not in ("open", "open_without_indexes"):
            found.append(f"{other.__name__}.{name} returns {their_ret} vs {core_ret}")
    return found


def test_every_surface_has_the_cores_methods_with_its_arguments() -> None:
    core = _methods(AsyncMemory)
    assert _public(AsyncMemory) - _public(Memory) == set()
    for client in (AsyncMemoryClient, MemoryClient):
        assert SERVED - _methods(client) == set(), client
    drift = _drift(AsyncMemory, Memory, core, remote=False)
    for client in (AsyncMemoryClient, MemoryClient):
        drift += _drift(AsyncMemory, client, SERVED, remote=True)
    drift += _drift(AsyncMemoryClient, MemoryClient, SERVED, remote=False)
    assert drift == [], "\n".join(drift)


def test_the_sync_methods_carry_the_async_docstrings() -> None:
    for name in _methods(AsyncMemory) - {"close"}:
        assert getattr(Memory, name).__doc__, name


def test_star_import_is_the_documented_api() -> None:
    names: dict[str, Any] = {}
    exec("from memoryd import *", names)
    assert memoryd.__all__ == sorted(memoryd.__all__)
    assert set(names) - {"__builtins__"} == set(memoryd.__all__)
    for name in memoryd.__all__:
        if name != "__version__":
            assert getattr(memoryd, name).__doc__, name


def _settings(path: Path) -> Settings:
    return memoryd.load_settings(env={}, overrides={"storage": {"path": str(path / "memoryd.db")}})


def _in_child(mem: Memory, out: Any) -> None:
    signal.alarm(120)  # a hang ends the child (SIGALRM), so the parent's join returns: no speed check
    try:
        mem.get_all(user_id="ana")
        out.send("worked")
    except RuntimeError as exc:
        out.send(str(exc))
    mem.close()  # the parent's thread and store: nothing to wait for here
    out.send("closed")


def test_a_memory_used_in_a_forked_child_refuses_rather_than_hangs(
    tmp_path: Path, embedder: USEEmbedder
) -> None:
    fork = multiprocessing.get_context("fork")
    with Memory(_settings(tmp_path), embedder=embedder) as mem:
        mem.add("I live in Porto", user_id="ana")
        mine, theirs = fork.Pipe()
        child = fork.Process(target=_in_child, args=(mem, theirs))
        child.start()
        child.join()
        assert child.exitcode == 0, "a call in a forked child waited on the parent's loop thread"
        said = [mine.recv(), mine.recv()]
        assert "another process" in said[0] and said[1] == "closed", said
        assert mem.get_all(user_id="ana").total >= 1  # the parent's is untouched


def test_a_memory_cannot_be_pickled_and_says_why(tmp_path: Path, embedder: USEEmbedder) -> None:
    with (
        Memory(_settings(tmp_path), embedder=embedder) as mem,
        pytest.raises(TypeError, match="Memory cannot be pickled"),
    ):
        pickle.dumps(mem)
    with MemoryClient("http://127.0.0.1:9") as client, pytest.raises(TypeError, match="MemoryClient cannot"):
        pickle.dumps(client)


def test_closed_twice_and_called_after_close(tmp_path: Path, embedder: USEEmbedder) -> None:
    mem = Memory(_settings(tmp_path), embedder=embedder)
    mem.close()
    mem.close()
    with pytest.raises(RuntimeError, match="this Memory is closed"):
        mem.get_all(user_id="ana")


def test_making_and_closing_many_leaves_no_thread_or_file(tmp_path: Path, embedder: USEEmbedder) -> None:
    def fds() -> set[tuple[str, str]]:
        """The open files, each by number and what it is (another test's connection in this worker
        closing meanwhile is no file of ours: only those opened here and left open count)."""
        out = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                out.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
            except OSError:  # closed between the listing and the look (listdir's own, say)
                continue
        return out

    with Memory(_settings(tmp_path / "warm"), embedder=embedder) as first:  # lazy imports, once
        first.add("hello there", user_id="z")
    threads, files = set(threading.enumerate()), fds()
    for i in range(10):
        with Memory(_settings(tmp_path / str(i)), embedder=embedder) as mem:
            mem.add("hello there", user_id="z")
    for _ in range(10):
        MemoryClient("http://127.0.0.1:9").close()
    assert set(threading.enumerate()) - threads == set()  # no thread made here is still running
    assert fds() - files == set()  # no file opened here is still open
