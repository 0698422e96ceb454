"""Importing memoryd, and using it without an LLM, leaves aiohttp unimported (a quarter of a second
of every ``memoryd`` command: its connector builds TLS contexts at import); the first LLM request
imports it and is answered. Each check runs in a fresh interpreter, since this one has aiohttp
loaded already (the fake LLM's fixtures, other tests). And the client still raises a read timeout
as :data:`~memoryd.llm.replies.ANSWER_TIMEOUT`, now memoryd's own class."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from memoryd.llm.replies import ANSWER_TIMEOUT
from memoryd.llm.transport import HTTPClient
from tests.fakes.llm_server import Script
from tests.llm.conftest import serving

ROOT = Path(__file__).resolve().parent.parent


def run(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last, returned here."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("MEMORYD_")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_memoryd_does_not_import_aiohttp() -> None:
    seen = run(
        """
        import json, sys
        import memoryd, memoryd.memory, memoryd.cli.commands, memoryd.server.app, memoryd.embedders.openai
        print(json.dumps({"aiohttp": "aiohttp" in sys.modules}))
        """
    )
    assert seen == {"aiohttp": False}


def test_a_fast_add_and_search_do_not_import_aiohttp(tmp_path: Path) -> None:
    seen = run(
        f"""
        import json, sys
        from memoryd import Memory, load_settings
        settings = load_settings(env={{}}, overrides={{"storage": {{"path": {str(tmp_path / "m.db")!r}}}}})
        with Memory(settings) as mem:
            added = mem.add("I adopted a golden retriever named Biscuit", user_id="ana")
            found = mem.search("what is my dog called?", user_id="ana")
        print(json.dumps({{
            "added": len(added), "found": [hit.memory.text for hit in found],
            "aiohttp": "aiohttp" in sys.modules,
        }}))
        """
    )
    assert seen == {"added": 1, "found": ["I adopted a golden retriever named Biscuit"], "aiohttp": False}


def test_the_first_llm_request_imports_aiohttp_and_is_answered(fake_llm: Script) -> None:
    fake_llm.reply_text("hello there")
    seen = run(
        f"""
        import asyncio, json, sys
        from memoryd import load_settings
        from memoryd.llm import build_router
        settings = load_settings(env={{}}, overrides={{"llm": {{
            "provider": "custom", "model": "m", "base_url": {fake_llm.base_url!r}, "api_key": "k",
        }}}})
        router = build_router(settings, env={{}})
        before = "aiohttp" in sys.modules

        async def ask():
            try:
                return await router.complete([{{"role": "user", "content": "hi"}}])
            finally:
                await router.aclose()

        answer = asyncio.run(ask())
        print(json.dumps({{"before": before, "answer": answer.text, "after": "aiohttp" in sys.modules}}))
        """
    )
    assert seen == {"before": False, "answer": "hello there", "after": True}
    assert fake_llm.requests[0].headers["authorization"] == "Bearer k"


async def test_a_wait_for_bytes_that_runs_out_is_still_the_answer_timeout() -> None:
    """ANSWER_TIMEOUT no longer is aiohttp's class (memoryd names it without importing aiohttp), so
    the client raises aiohttp's read timeout as both: waiting for the headers, and for a stream's
    next bytes."""
    done = asyncio.Event()  # the handlers' silence ends with the test

    async def silent(request: web.Request) -> web.StreamResponse:
        await done.wait()
        return web.Response()

    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: 1\n\n")
        await done.wait()
        return response

    app = web.Application()
    app.router.add_post("/silent", silent)
    app.router.add_post("/stalls", stalls)
    http = HTTPClient()
    async with serving(app) as url:
        try:
            with pytest.raises(ANSWER_TIMEOUT, match="Timeout on reading data from socket") as info:
                await asyncio.wait_for(http.open(f"{url}/silent", {}, headers={}, timeout_s=0.3), 20)
            assert isinstance(info.value, aiohttp.SocketTimeoutError)
            reply = await http.open(f"{url}/stalls", {}, headers={}, timeout_s=0.3)
            lines: list[str] = []
            try:
                with pytest.raises(ANSWER_TIMEOUT) as info:
                    async for line in reply.lines():
                        lines.append(line)
            finally:
                await reply.aclose()
            assert lines == ["data: 1", ""]
            assert isinstance(info.value, aiohttp.SocketTimeoutError)
        finally:
            done.set()
            await http.aclose()
