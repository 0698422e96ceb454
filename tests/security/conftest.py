"""Fixtures for the hostile-input tests: a real server to fuzz, and the tally of fuzz cases.

``fuzz_server`` is a real uvicorn server on loopback over a fresh SQLite store
(the session's real embedder), with small limits so that fuzzed requests reach
the 413/422 paths, and an LLM pointed at the scripted vendor on loopback
(``tests/fakes/llm_server.py``) so that routes needing one (fine mode, the
gateway) run for real instead of answering 501. When this build has API keys,
an admin key is created first, so the server runs with authentication on (as
in production) and every fuzzed request carries the key. ``FUZZ_TALLY`` counts the
requests the fuzzer made per operation; the terminal summary prints it, so a
run ends with "schemathesis: N cases over M operations, failures F".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from memoryd import Settings, load_settings
from memoryd.embedders.use import USEEmbedder
from tests.api.conftest import Running, running_server
from tests.fakes.llm_server import FakeLLMServer, Script

__all__ = ["FUZZ_LIMITS", "FUZZ_TALLY", "FuzzServer", "FuzzTally", "admin_headers", "fuzz_settings"]

FUZZ_LIMITS = {
    "max_body_bytes": 64 * 1024,
    "max_messages_per_add": 20,
    "max_message_chars": 2_000,
    "max_limit": 50,
    "max_query_chars": 500,
    "max_filter_depth": 4,
}


@dataclass
class FuzzTally:
    """Requests made by the fuzzer, per operation, and the operations that failed."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    failed: set[str] = field(default_factory=set)

    def line(self) -> str:
        total = sum(self.cases.values())
        return (
            f"schemathesis: {total} cases over {len(self.cases)} operations, "
            f"failures {len(self.failed)}" + (f" ({', '.join(sorted(self.failed))})" if self.failed else "")
        )


FUZZ_TALLY = FuzzTally()


def fuzz_settings(path: Path, llm_base_url: str) -> Settings:
    """A fresh store at ``path``, small limits, an LLM at ``llm_base_url`` (the scripted fake),
    and no rate limit (the fuzzer sends as fast as it can)."""
    overrides: dict[str, Any] = {
        "storage": {"path": str(path), "synchronous": "NORMAL"},
        "limits": FUZZ_LIMITS,
        "llm": {
            "provider": "openai",
            "base_url": llm_base_url,
            "api_key": "sk-fuzz",
            "model": "fuzz-model",
            "timeout_s": 5,
            "max_attempts": 1,
        },
    }
    if "auth" in Settings.model_fields:
        overrides["auth"] = {"rate_limit_per_s": 0}
    return load_settings(env={}, overrides=overrides)


def admin_headers(settings: Settings) -> dict[str, str]:
    """Headers carrying a new admin API key of the store (so authentication is on, as in
    production); none when this build has no API keys."""
    try:
        from memoryd.auth import create_key, open_key_store
    except ImportError:
        return {}
    store = open_key_store(settings)
    try:
        return {"Authorization": f"Bearer {create_key(store, 'admin', name='fuzz').key}"}
    finally:
        store.close()


@pytest.fixture(scope="module")
def fuzz_llm(fake_llm_server: FakeLLMServer) -> Script:
    """The fuzz server's LLM: answers every call with an empty extraction."""
    script = fake_llm_server.new_script("fuzz")
    script.reset()
    script.default_json({"facts": [], "relations": []})
    return script


@dataclass
class FuzzServer:
    """The server under fuzz and the headers every request carries."""

    running: Running
    headers: dict[str, str]

    @property
    def url(self) -> str:
        return self.running.url


@pytest.fixture(scope="module")
def fuzz_server(
    tmp_path_factory: pytest.TempPathFactory, embedder: USEEmbedder, fuzz_llm: Script
) -> Iterator[FuzzServer]:
    """A real server over a fresh SQLite store, shared by the fuzz module, with an admin key."""
    settings = fuzz_settings(tmp_path_factory.mktemp("fuzz") / "fuzz.db", fuzz_llm.base_url)
    headers = admin_headers(settings)
    with running_server(settings, embedder) as running:
        yield FuzzServer(running, headers)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FUZZ_TALLY.cases:
        terminalreporter.write_line(FUZZ_TALLY.line())
        for label, counts in sorted(FUZZ_TALLY.statuses.items()):
            terminalreporter.write_line(f"  {label}: {dict(sorted(counts.items()))}")
