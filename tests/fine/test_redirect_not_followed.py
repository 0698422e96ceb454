"""Fine mode against an LLM URL that answers with a redirect to another server (a moved endpoint,
a captive portal, a compromised proxy), found in a review of fine mode against a misbehaving LLM.

Each test failed on the code before its fix: the redirect was followed, and the request went to
the other server with the vendor's key header (``x-api-key``, ``api-key``, ``x-goog-api-key``:
aiohttp drops only ``Authorization`` across servers) and the user's messages, though a key is
only ever sent to the server of its ``base_url``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from memoryd import AsyncMemory
from memoryd.embedders.use import USEEmbedder
from tests.fakes.llm_server import Script
from tests.fine.conftest import llm_settings
from tests.fine.test_fine_mode import of_kind


@contextmanager
def redirecting(status: int, location: str) -> Iterator[str]:
    """A server on loopback that answers every request with ``status`` to ``location``."""
    server = socket.create_server(("127.0.0.1", 0))
    reply = f"HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    server.settimeout(0.05)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                conn.recv(65536)
                conn.sendall(reply.encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    finally:
        done.set()
        thread.join(timeout=5)
        server.close()


@pytest.mark.parametrize("status", [302, 307, 308])
@pytest.mark.parametrize("provider", ["anthropic", "azure", "openai"])
async def test_a_redirect_to_another_server_is_not_followed(
    tmp_path: Path, fake_llm: Script, embedder: USEEmbedder, status: int, provider: str
) -> None:
    elsewhere = fake_llm.base_url.replace("127.0.0.1", "localhost") + "/chat/completions"  # another server
    with redirecting(status, elsewhere) as url:
        base = url.removesuffix("/v1") if provider == "azure" else url
        mem = await AsyncMemory(llm_settings(tmp_path, base, provider=provider), embedder=embedder).open()
        try:
            out = await mem.add("I work at Acme", user_id="alice")
        finally:
            await mem.close()
    assert fake_llm.requests == []  # neither the key nor the message went there
    assert [r.text for r in of_kind(out, "episode")] == ["I work at Acme"]
    assert out.llm is not None and out.llm.fallback is not None
    assert f"HTTP {status}" in out.llm.fallback and "redirect" in out.llm.fallback
    assert "localhost" in out.llm.fallback  # where it points, for the operator to set base_url
    assert "sk-test-secret" not in out.llm.fallback
