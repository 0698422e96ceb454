"""A scripted LLM vendor on loopback: real HTTP, vendor-shaped answers, every request recorded.

One uvicorn server (a tiny Starlette app in a background thread, random port)
serves any number of independent *scripts*. A script is one fake endpoint with
its own reply queue, default reply and request log, reachable at its own URL
prefix, so two tiers of a router can be two scripts of the same server.

Each script speaks:

- OpenAI: ``POST {base_url}/chat/completions``, ``POST {base_url}/embeddings``, ``GET {base_url}/models``
  (``base_url`` ends in ``/v1``), and Azure's ``POST {url}/openai/deployments/{name}/chat/completions``;
- Anthropic: ``POST {base_url}/messages``;
- Gemini: ``POST {gemini_url}/models/{model}:generateContent`` (``gemini_url`` ends in ``/v1beta``).

Each of the three also streams (OpenAI and Anthropic with ``"stream": true``,
Gemini at ``:streamGenerateContent``): the same scripted reply, as the vendor's
server-sent events (see ``tests/fakes/llm_stream.py``). A reply may carry
``tool_calls=[{"id", "name", "arguments"}]`` (each vendor's tool-call shape,
plain or streamed), and for streams ``stream_error_after=n`` (an error event
after n pieces of text), ``stream_cut_after=n`` (the body just ends),
``chunk_delay`` (seconds between events) and ``first_wait`` (seconds between
the headers and the first event, a long prompt or a reasoning model; with
``keepalive``, an SSE comment every that many seconds meanwhile, as
OpenRouter's ``: OPENROUTER PROCESSING``), ``pause=(n, s)`` (s seconds of silence
after the first n events: ``(1, s)`` after the role chunk, or Anthropic's ``message_start``).

Fixtures (``tests/conftest.py``): ``fake_llm`` is a fresh script for one test
(the server is shared by the session and reset before each test);
``fake_llm_factory()`` makes another one (say, a second tier). Script a test::

    def test_something(fake_llm):
        fake_llm.reply_json({"facts": ["likes tea"]})   # next answer: that JSON as the content
        fake_llm.reply_text("Sorry, I can't.")           # then prose
        fake_llm.fail(429, retry_after=0.1)             # then an HTTP error (with Retry-After)
        fake_llm.hang(5)                                # then 5 s of silence, then the default
        fake_llm.default_text("ok")                     # answer when the queue is empty
        ...                                             # point memoryd at fake_llm.base_url
        assert fake_llm.requests[0].json["model"] == "m"
        assert fake_llm.requests[0].headers["authorization"] == "Bearer k"

Each queued reply is used by one request, whatever its path; ``times=n``
queues it n times. Content replies are wrapped in the shape of the path that
was called (chat completion, Anthropic message or Gemini candidate, with
usage counts); ``reply_body`` sends a JSON body verbatim and ``reply_raw`` a
non-JSON one. Embeddings are deterministic, *not* unit-length vectors of
``embedding_dim`` numbers derived from each text (a failure or hang queued
for the script applies to them too).

A reply can also be computed from the request: ``reply_with(fn)`` (or a
``Reply(respond=fn)`` pushed, hung or made the default) calls ``fn`` with the
request's JSON payload once this reply's own delay is over, and sends the
:class:`Reply` it returns instead (its delay too). ``embedding_inputs(payload)``
gives an embeddings request's texts and ``embeddings_body(vectors)`` the
OpenAI body holding some vectors, so a reply can depend on the inputs::

    fake_llm.reply_with(  # one vector fewer than the inputs
        lambda p: Reply(body=embeddings_body([fake_vector(t, 4) for t in embedding_inputs(p)][1:]))
    )
    fake_llm.default(Reply(respond=lambda p: Reply(status=400) if len(embedding_inputs(p)) > 3 else Reply()))

(``Reply()``, the plain answer, is the usual vectors on the embeddings path.)
``hang(seconds, then=Reply(respond=fn))`` waits before computing. A test of the
``openai`` embedder takes a script of its own (``fake_llm_factory()``): memoryd
remembers a probed dimension per (URL, model), so a shared URL carries it over.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.llm_stream import stream_events, tool_args

__all__ = [
    "FakeLLMServer",
    "Recorded",
    "Reply",
    "Script",
    "embedding_inputs",
    "embeddings_body",
    "fake_vector",
    "running",
]

_GEMINI = re.compile(r"^v1beta/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")
_AZURE = re.compile(r"^openai/deployments/(?P<deployment>[^/]+)/chat/completions$")


@dataclass
class Reply:
    """One scripted answer. ``text`` is wrapped in the vendor's shape; ``body``/``raw`` are sent as is."""

    status: int = 200
    text: str | None = "ok"
    body: Any = None
    raw: str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    usage: tuple[int, int] = (11, 7)
    finish_reason: str = "stop"
    message: str = "scripted failure"
    tool_calls: list[dict[str, Any]] | None = None  # [{"id", "name", "arguments"}]
    stream_error_after: int | None = None
    stream_cut_after: int | None = None
    chunk_delay: float = 0.0
    linger: float = 0.0  # a stream's connection held open this long after its last event
    first_wait: float = 0.0  # a stream's silence between its headers and its first event
    keepalive: float = 0.0  # during first_wait, an SSE comment every this many seconds
    pause: tuple[int, float] | None = None  # (n, s): a stream's silence of s seconds after n events
    # computed from the request: called with its JSON payload after ``delay``, its Reply is sent instead
    respond: Callable[[Any], Reply] | None = None


@dataclass(frozen=True)
class Recorded:
    """One request the fake received (header names lower-case)."""

    method: str
    path: str  # after the script's prefix, e.g. "v1/chat/completions"
    headers: dict[str, str]
    query: dict[str, str]
    json: Any


def fake_vector(text: str, dim: int) -> list[float]:
    """The fake's embedding of ``text``: deterministic, in [-2, 2], usually not unit length."""
    out: list[float] = []
    for block in itertools.count():
        digest = hashlib.sha256(f"{block}:{text}".encode()).digest()
        out += [b / 64.0 - 2.0 for b in digest]
        if len(out) >= dim:
            return out[:dim]
    raise AssertionError("unreachable")


class Script:
    """One scripted endpoint of a :class:`FakeLLMServer`."""

    def __init__(self, server: FakeLLMServer, name: str) -> None:
        self._server = server
        self.name = name
        self.url = f"{server.root}/r/{name}"
        self.base_url = f"{self.url}/v1"  # OpenAI-compatible and Anthropic base URL
        self.gemini_url = f"{self.url}/v1beta"
        self.azure_url = self.url  # Azure resource endpoint
        self.embedding_dim = 16
        self.models = ["fake-model"]
        self._lock = threading.Lock()
        self._queue: collections.deque[Reply] = collections.deque()
        self._default = Reply()
        self.requests: list[Recorded] = []

    # -- scripting -------------------------------------------------------------
    def push(self, reply: Reply, times: int = 1) -> Script:
        with self._lock:
            self._queue.extend(Reply(**vars(reply)) for _ in range(times))
        return self

    def reply_text(self, text: str, *, times: int = 1, **options: Any) -> Script:
        """Answer with this content (wrapped in the vendor's shape)."""
        return self.push(Reply(text=text, **options), times)

    def reply_json(self, value: Any, *, times: int = 1, **options: Any) -> Script:
        """Answer with ``json.dumps(value)`` as the content."""
        return self.reply_text(json.dumps(value), times=times, **options)

    def reply_body(self, body: Any, *, status: int = 200, times: int = 1, **options: Any) -> Script:
        """Send this JSON body verbatim (any shape, any status)."""
        return self.push(Reply(status=status, body=body, **options), times)

    def reply_raw(self, raw: str, *, status: int = 200, times: int = 1, **options: Any) -> Script:
        """Send a non-JSON body (``text/plain`` unless ``headers`` give a ``content-type``)."""
        return self.push(Reply(status=status, raw=raw, **options), times)

    def reply_with(self, respond: Callable[[Any], Reply], *, times: int = 1) -> Script:
        """Answer with the :class:`Reply` ``respond`` gives for the request's JSON payload."""
        return self.push(Reply(respond=respond), times)

    def fail(
        self,
        status: int,
        *,
        message: str = "scripted failure",
        retry_after: float | None = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> Script:
        """Answer with an HTTP error in the vendor's error shape."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["retry-after"] = f"{retry_after:g}"
        return self.push(Reply(status=status, text=None, message=message, headers=extra), times)

    def hang(self, seconds: float, *, times: int = 1, then: Reply | None = None) -> Script:
        """Say nothing for ``seconds`` (cut short by the next reset), then send ``then`` or the default."""
        base = then or self._default
        return self.push(Reply(**{**vars(base), "delay": seconds}), times)

    def default(self, reply: Reply) -> Script:
        """The reply used when the queue is empty (initially: content ``ok``)."""
        self._default = reply
        return self

    def default_text(self, text: str, **options: Any) -> Script:
        return self.default(Reply(text=text, **options))

    def default_json(self, value: Any, **options: Any) -> Script:
        return self.default_text(json.dumps(value), **options)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
        self._default = Reply()
        self.embedding_dim = 16

    # -- inspection ------------------------------------------------------------
    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    @property
    def pending(self) -> int:
        """Queued replies not used yet."""
        return len(self._queue)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    # -- serving (called on the server's thread) --------------------------------
    def _next(self, record: Recorded) -> Reply:
        with self._lock:
            self.requests.append(record)
            return self._queue.popleft() if self._queue else Reply(**vars(self._default))


class FakeLLMServer:
    """The uvicorn server behind the scripts. ``with FakeLLMServer() as server: ...``"""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self._scripts: dict[str, Script] = {}
        self._names = itertools.count(1)
        self._generation = 0
        app = Starlette(routes=[Route("/r/{name}/{rest:path}", self._handle, methods=["GET", "POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                ws="none",
                access_log=False,
                timeout_graceful_shutdown=2,
            )
        )
        self._thread: threading.Thread | None = None

    # -- scripts -----------------------------------------------------------------
    def script(self, name: str = "default") -> Script:
        if name not in self._scripts:
            self._scripts[name] = Script(self, name)
        return self._scripts[name]

    def new_script(self, name: str | None = None) -> Script:
        """A script of its own (a unique name unless one is given)."""
        return self.script(name or f"s{next(self._names)}")

    def reset(self) -> None:
        """Forget every script's queue and log; wake up hanging requests."""
        self._generation += 1
        for script in self._scripts.values():
            script.reset()

    # -- life cycle ----------------------------------------------------------------
    def start(self) -> FakeLLMServer:
        sock = self._sock

        async def main() -> None:
            try:
                await self._server.serve(sockets=[sock])
            finally:
                sock.close()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), name="fake-llm", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake LLM server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.reset()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
            assert not self._thread.is_alive(), "the fake LLM server did not stop"

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the app -------------------------------------------------------------------
    async def _handle(self, request: Request) -> Response:
        script = self._scripts.get(request.path_params["name"])
        if script is None:
            return JSONResponse({"error": {"message": "no such script"}}, status_code=404)
        path = request.path_params["rest"]
        raw = await request.body()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        record = Recorded(
            request.method,
            path,
            {k.lower(): v for k, v in request.headers.items()},
            dict(request.query_params),
            payload,
        )
        if request.method == "GET" and path == "v1/models":
            return JSONResponse(
                {"object": "list", "data": [{"id": m, "object": "model"} for m in script.models]}
            )
        kind = self._kind(path)
        if kind is None:
            return JSONResponse({"error": {"message": f"no route {path}"}}, status_code=404)
        reply = script._next(record)
        if reply.delay:
            await self._sleep(reply.delay)
        if reply.respond is not None:
            reply = reply.respond(payload)
            if reply.delay:
                await self._sleep(reply.delay)
        headers = dict(reply.headers)
        if reply.raw is not None:
            return Response(reply.raw, status_code=reply.status, headers=headers, media_type="text/plain")
        if reply.body is not None:
            return JSONResponse(reply.body, status_code=reply.status, headers=headers)
        if reply.status >= 400:
            return JSONResponse(_error(kind, reply), status_code=reply.status, headers=headers)
        if kind != "embeddings" and _streamed(kind, path, payload):
            model = payload.get("model", "fake-model") if isinstance(payload, dict) else "fake-model"
            gemini = _GEMINI.match(path)
            events = stream_events(kind, reply, payload, gemini.group("model") if gemini else model)
            return StreamingResponse(
                self._drip(events, reply), status_code=reply.status, headers=headers, media_type="text/event-stream"
            )
        body = _embeddings(script, payload) if kind == "embeddings" else _answer(kind, reply, path, payload)
        return JSONResponse(body, status_code=reply.status, headers=headers)

    async def _drip(self, events: list[bytes], reply: Reply) -> AsyncIterator[bytes]:
        generation, deadline = self._generation, time.monotonic() + reply.first_wait
        while (left := deadline - time.monotonic()) > 0 and generation == self._generation:
            await self._sleep(min(left, reply.keepalive) if reply.keepalive else left)
            if reply.keepalive and time.monotonic() < deadline:
                yield b": OPENROUTER PROCESSING\n\n"
        for i, event in enumerate(events):
            if reply.chunk_delay and i:
                await self._sleep(reply.chunk_delay)
            if reply.pause is not None and i == reply.pause[0]:
                await self._sleep(reply.pause[1])
            yield event
        if reply.linger:
            await self._sleep(reply.linger)

    async def _sleep(self, seconds: float) -> None:
        generation, deadline = self._generation, time.monotonic() + seconds
        while time.monotonic() < deadline and generation == self._generation:
            await asyncio.sleep(min(0.02, max(0.0, deadline - time.monotonic())))

    @staticmethod
    def _kind(path: str) -> str | None:
        if path == "v1/chat/completions" or _AZURE.match(path):
            return "openai"
        if path == "v1/messages":
            return "anthropic"
        if _GEMINI.match(path):
            return "gemini"
        if path == "v1/embeddings":
            return "embeddings"
        return None


def _streamed(kind: str, path: str, payload: Any) -> bool:
    if kind == "gemini":
        match = _GEMINI.match(path)
        return bool(match and match.group("method") == "streamGenerateContent")
    return isinstance(payload, dict) and payload.get("stream") is True


def _error(kind: str, reply: Reply) -> dict[str, Any]:
    if kind == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": reply.message}}
    if kind == "gemini":
        return {"error": {"code": reply.status, "message": reply.message, "status": "UNAVAILABLE"}}
    return {"error": {"message": reply.message, "type": "server_error", "code": str(reply.status)}}


def _answer(kind: str, reply: Reply, path: str, payload: Any) -> dict[str, Any]:
    text = reply.text or ""
    prompt, completion = reply.usage
    model = payload.get("model", "fake-model") if isinstance(payload, dict) else "fake-model"
    calls = reply.tool_calls or []
    if kind == "anthropic":
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text or not calls else []
        blocks += [
            {"type": "tool_use", "id": c["id"], "name": c["name"], "input": json.loads(tool_args(c))}
            for c in calls
        ]
        stop = "end_turn" if reply.finish_reason == "stop" else reply.finish_reason
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": "tool_use" if calls else stop,
            "usage": {"input_tokens": prompt, "output_tokens": completion},
        }
    if kind == "gemini":
        match = _GEMINI.match(path)
        return {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": ([{"text": text}] if text or not calls else [])
                        + [
                            {"functionCall": {"name": c["name"], "args": json.loads(tool_args(c))}}
                            for c in calls
                        ],
                    },
                    "finishReason": "STOP" if reply.finish_reason == "stop" else reply.finish_reason,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": completion,
                "totalTokenCount": prompt + completion,
            },
            "modelVersion": match.group("model") if match else "fake-model",
        }
    azure = _AZURE.match(path)
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": tool_args(c)}}
            for c in calls
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": azure.group("deployment") if azure else model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else reply.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def embedding_inputs(payload: Any) -> list[str]:
    """The texts an embeddings request asks for (its ``input``: one text or a list)."""
    inputs = payload.get("input", []) if isinstance(payload, dict) else []
    return [inputs] if isinstance(inputs, str) else [str(t) for t in inputs]


def embeddings_body(vectors: list[list[Any]], model: str = "fake-embedder") -> dict[str, Any]:
    """An OpenAI embeddings body holding ``vectors`` in order (``index`` 0, 1, ...)."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": len(vectors), "total_tokens": len(vectors)},
    }


def _embeddings(script: Script, payload: Any) -> dict[str, Any]:
    texts = embedding_inputs(payload)
    model = payload.get("model", "fake-embedder") if isinstance(payload, dict) else "fake-embedder"
    return embeddings_body([fake_vector(t, script.embedding_dim) for t in texts], model)


@contextmanager
def running() -> Iterator[FakeLLMServer]:
    """A started server for the block (for use outside pytest fixtures)."""
    with FakeLLMServer() as server:
        yield server
