"""The Model Context Protocol's server side, over any transport: JSON-RPC 2.0 in, JSON-RPC out.

:class:`McpSession` answers one client: ``initialize`` (version negotiation; the
revisions with a handshake, 2024-11-05 to 2025-11-25), ``ping``, ``tools/list`` and
``tools/call``; notifications get no answer. Batches (JSON-RPC arrays) are taken in a session
at 2025-03-26 or earlier only: MCP removed batching in 2025-06-18, so from that revision on an
array is refused, whole, with one ``-32600`` error (:func:`refuse_batch`). ``tools/list`` gives
every tool on one page: a ``params.cursor`` (never handed out) is ``-32602``. A client that
skips the handshake may still list and call tools (at the newest revision). Each request runs
as its own task, so a slow search never holds up the next, but a tool call starts only after
every write received before it (a client that sends an add and then a search without waiting
finds what it added); ``ping``, ``tools/list`` and ``initialize`` wait for none.
``notifications/cancelled`` stops a read-only call, which then gets no answer (as MCP asks). A
write cannot be stopped (once under way it finishes: what it stored stays stored), so the cancel
is ignored and the write answered, on every transport: MCP lets a receiver ignore a cancel that
cannot stop a request, a response may follow a cancel that came after the work completed, and
the client learns what was stored (a withheld answer left it thinking nothing was). Over HTTP the
POST's answer must hold a response for each request that ran, too (JSON-RPC 2.0's batch rule).

What goes wrong *in a tool* (bad arguments, an unknown id, a backend down) is a tool
result with ``isError`` and the reason, as the protocol asks, so the model can read it
and correct itself. Only what is wrong with the message itself is a JSON-RPC error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from memoryd import __version__
from memoryd.auth.bound import UserBoundMemory
from memoryd.errors import MemorydError
from memoryd.mcp.tools import Handler, Tool, bound_scope, build_tools
from memoryd.memory import AsyncMemory

__all__ = [
    "INVALID_REQUEST",
    "PROTOCOL_VERSIONS",
    "REQUEST_CANCELLED",
    "McpSession",
    "encode_message",
    "error_message",
    "refuse_batch",
]

log = logging.getLogger("memoryd.mcp")

# Newest first: a client asking for one of these gets it; any other gets the newest.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
_STRUCTURED_SINCE = "2025-06-18"  # tool results carry structuredContent from this revision on
_UNBATCHED_SINCE = "2025-06-18"  # the revision that removed JSON-RPC batching

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
REQUEST_CANCELLED = -32800  # a request a cancel stopped (the code LSP gives it; MCP names none)

INSTRUCTIONS = (
    "Long-term memory. Call search_memories (or get_context for a prompt-ready block) before "
    "answering anything that may depend on what the user said before; call add_memory with "
    "what the user tells you about themselves, their plans and preferences."
)

Send = Callable[[Any], Awaitable[None]]  # one message, or a batch's answers (a list)


class McpSession:
    """One MCP client's session with a memory; ``send`` writes a message to the client.

    ``version`` is the protocol revision in use until an ``initialize`` picks one (a
    stateless HTTP request names it in a header); ``add`` replaces how ``add_memory``
    stores (see :func:`~memoryd.mcp.tools.build_tools`). ``stateless``: one message or batch
    gets one answer (an HTTP POST). :attr:`stopped` lists the requests a cancel did stop, whose
    answers are withheld (a write a cancel cannot stop is answered)."""

    def __init__(
        self,
        memory: AsyncMemory,
        send: Send,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        version: str = PROTOCOL_VERSIONS[0],
        add: Handler | None = None,
        stateless: bool = False,
    ) -> None:
        self.memory = memory
        self._send = send
        self.stateless = stateless
        self.stopped: list[Any] = []  # ids of the requests a notifications/cancelled stopped
        self.bound = bound_scope(user_id, agent_id, run_id)
        # The user a user API key binds the tools to (memory is then the key's view): naming
        # another is answered as the REST API answers it, not as a server bound by its own option
        view: Any = memory
        bound_user = view.user_id if isinstance(view, UserBoundMemory) else None
        self.key_user = bound_user if bound_user is not None and bound_user == user_id else None
        settings = memory.settings
        self.tools = build_tools(
            settings.limits.max_limit, add=add, search_limit=settings.search.default_limit,
            fine=settings.llm.configured,
        )  # fmt: skip
        self.version = version  # until initialize says otherwise
        self.client: dict[str, Any] = {}
        self._running: dict[Any, tuple[asyncio.Task[None], bool]] = {}  # id -> (task, read-only)
        self._cancelled: set[Any] = set()
        self._writes: asyncio.Task[None] | None = None  # the last write received
        self._batches: set[asyncio.Task[None]] = set()  # batches waiting for their last answer

    # -- input -----------------------------------------------------------------------------
    async def receive(self, line: bytes | str) -> None:
        """Take one line from the client: a message, or a batch of them (answered as one array
        once all its requests are done)."""
        try:
            message = json.loads(line)
        except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested too deep
            await self._error(self._send, None, PARSE_ERROR, f"parse error: {exc}")
            return
        await self.receive_message(message)

    async def receive_message(self, message: Any) -> None:
        """Take one message, or a batch, already parsed from JSON (see :meth:`receive`)."""
        if not isinstance(message, list):
            await self._dispatch(message, self._send)
            return
        refused = refuse_batch(self.version)
        if refused is not None:
            await self._send(refused)
            return
        if not message:
            await self._error(self._send, None, INVALID_REQUEST, "an empty batch")
            return
        answers: list[dict[str, Any]] = []

        async def collect(answer: Any) -> None:
            answers.append(answer)

        tasks = [task for member in message if (task := await self._dispatch(member, collect))]
        finisher = asyncio.create_task(self._send_batch(tasks, answers))
        self._batches.add(finisher)
        finisher.add_done_callback(self._batches.discard)

    async def _send_batch(self, tasks: list[asyncio.Task[None]], answers: list[dict[str, Any]]) -> None:
        if tasks:
            await asyncio.wait(tasks)
        if answers:  # a batch of notifications only (or cancelled requests) gets no answer
            await self._send(answers)

    @property
    def in_flight(self) -> int:
        """Requests started and not yet answered."""
        return len(self._running)

    async def drain(self) -> None:
        """Wait for every call under way (the client has gone: their answers go nowhere)."""
        while self._running or self._batches:
            pending = [task for task, _ in self._running.values()] + list(self._batches)
            await asyncio.gather(*pending, return_exceptions=True)

    async def _dispatch(self, message: Any, reply: Send) -> asyncio.Task[None] | None:
        """Start answering one message (with ``reply``); the request's task, if it is one."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            error = 'not a JSON-RPC 2.0 message ("jsonrpc": "2.0")'
            await self._error(reply, _id_of(message), INVALID_REQUEST, error)
            return None
        method = message.get("method")
        if method is None and ("result" in message or "error" in message):
            return None  # a response to a request we never send: nothing to do
        if method is None:
            await self._error(reply, _id_of(message), INVALID_REQUEST, "a request needs a method")
            return None
        request_id = message.get("id")
        is_request = "id" in message
        if not isinstance(method, str) or (is_request and not _valid_id(request_id)):
            error = "method must be a string and id a string or number"
            await self._error(reply, _id_of(message), INVALID_REQUEST, error)
            return None
        params = message.get("params", {})
        if params is None:
            params = {}
        if not is_request:
            self._notified(method, params)
            return None
        if not isinstance(params, dict):
            await self._error(reply, request_id, INVALID_PARAMS, "params must be an object")
            return None
        if request_id in self._running:
            await self._error(
                reply, request_id, INVALID_REQUEST, f"request id {request_id!r} is already in use"
            )
            return None
        if method == "initialize":  # now: a batch sent right behind it is judged at the version it picks
            self.version = _negotiated(params)
        read_only = method != "tools/call" or self._read_only(params)
        # Only a tool call reads the memory: a ping (MCP: answered promptly), a tools/list or an
        # initialize never waits behind a write under way (a fine-mode add waiting on its LLM)
        after = self._writes if method == "tools/call" else None
        task = asyncio.create_task(self._answer(reply, request_id, method, params, after=after))
        if not read_only:
            self._writes = task
        self._running[request_id] = (task, read_only)
        task.add_done_callback(lambda _: self._finished(request_id))
        return task

    def _notified(self, method: str, params: Any) -> None:
        if method == "notifications/cancelled" and isinstance(params, dict):
            target = params.get("requestId")
            running = self._running.get(target) if _valid_id(target) else None
            if running is not None:
                task, read_only = running
                if read_only:  # a write cannot be stopped: the cancel is ignored, the write answered
                    if task.cancel():
                        self.stopped.append(target)
                    self._cancelled.add(target)
        # notifications/initialized and anything else: nothing to answer

    def _read_only(self, params: Mapping[str, Any]) -> bool:
        name = params.get("name")
        tool = self.tools.get(name) if isinstance(name, str) else None
        return tool is None or tool.read_only

    def _finished(self, request_id: Any) -> None:
        self._running.pop(request_id, None)
        self._cancelled.discard(request_id)

    # -- answers ---------------------------------------------------------------------------
    async def _answer(
        self,
        reply: Send,
        request_id: Any,
        method: str,
        params: dict[str, Any],
        *,
        after: asyncio.Task[None] | None,
    ) -> None:
        if after is not None:
            await asyncio.wait([after])  # the writes received before this request come first
        try:
            result = await self._result(method, params)
        except _RpcError as exc:
            if request_id not in self._cancelled:
                await self._error(reply, request_id, exc.code, exc.message)
            return
        if request_id not in self._cancelled:
            await reply({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def _result(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "initialize":
            return self._initialize(params)
        if method == "ping":
            return {}
        if method == "tools/list":
            cursor = params.get("cursor")
            if cursor is not None:  # every tool is on the one page: no nextCursor was ever given
                raise _RpcError(INVALID_PARAMS, f"invalid cursor {cursor!r}: every tool is listed on one "
                                "page, without a nextCursor; list without params.cursor")  # fmt: skip
            return {"tools": [tool.listing(self.bound) for tool in self.tools.values()]}
        if method == "tools/call":
            return await self._call(params)
        raise _RpcError(METHOD_NOT_FOUND, f"method not found: {method}")

    def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        info = params.get("clientInfo")
        self.client = info if isinstance(info, dict) else {}
        return {
            "protocolVersion": _negotiated(params),  # the session's version since it was received
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "memoryd", "title": "memoryd long-term memory", "version": __version__},
            "instructions": INSTRUCTIONS,
        }

    async def _call(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        tool = self.tools.get(name) if isinstance(name, str) else None
        if tool is None:
            wrong = "tools/call needs params.name, a string"  # not "unknown tool: None"
            if isinstance(name, str):
                wrong = f"unknown tool: {name!r}"
            raise _RpcError(INVALID_PARAMS, f"{wrong}; tools: {', '.join(self.tools)}")
        if params.get("arguments") is not None and not isinstance(params["arguments"], dict):
            # not a CallToolRequest: a protocol error (-32602), as an unknown tool is
            raise _RpcError(INVALID_PARAMS, "tools/call needs params.arguments, an object")
        try:
            args = tool.arguments(params.get("arguments"), self.bound, key_user=self.key_user)
            value = await tool.handler(self.memory, args)
        except MemorydError as exc:
            return _tool_error(exc.to_dict())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a tool's failure is the model's to read, not a crash
            log.exception("tool %s failed", tool.name)
            return _tool_error({"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"})
        return self._tool_result(tool, value)

    def _tool_result(self, tool: Tool, value: dict[str, Any]) -> dict[str, Any]:
        text = value["text"] if tool.name == "get_context" else _json(value)
        result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
        if self.version >= _STRUCTURED_SINCE:
            result["structuredContent"] = value
        return result

    @staticmethod
    async def _error(reply: Send, request_id: Any, code: int, message: str) -> None:
        await reply(error_message(request_id, code, message))


def error_message(request_id: Any, code: int, message: str) -> dict[str, Any]:
    """A JSON-RPC error answer."""
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


class _RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _tool_error(body: dict[str, Any]) -> dict[str, Any]:
    text = body["message"]
    if body.get("field"):
        text += f" (field: {body['field']})"
    if body.get("details"):  # what the message refers to: the event_id to retry with, say
        text += f" {_json(body['details'])}"
    return {"content": [{"type": "text", "text": f"{body['code']}: {text}"}], "isError": True}


def _negotiated(params: Mapping[str, Any]) -> str:
    """The revision an ``initialize`` gets: the one it asks for, if known; else the newest."""
    asked = params.get("protocolVersion")
    return asked if isinstance(asked, str) and asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]


def refuse_batch(version: str) -> dict[str, Any] | None:
    """The error answering a batch in a session at ``version``; None where batches are taken
    (up to 2025-03-26: MCP 2025-06-18 removed JSON-RPC batching)."""
    if version < _UNBATCHED_SINCE:
        return None
    error = (
        f"a batch (JSON-RPC array): MCP removed batching in {_UNBATCHED_SINCE}, and this session "
        f"speaks {version}; send each message on its own"
    )
    return error_message(None, INVALID_REQUEST, error)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# Line breaks to str.splitlines() (and so to a client reading lines that way) that JSON leaves
# raw: escaped, so each message stays one line to every reader. They only occur inside strings.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def encode_message(message: Any) -> bytes:
    """A message as UTF-8 JSON on one line (no newline; NEL, U+2028 and U+2029 escaped, as JSON
    already escapes every other line break). A string the client sent with a lone surrogate
    (an id, a method name: ``"\\ud800"``) cannot be UTF-8: then the message goes out
    ASCII-escaped, as valid JSON that gives the client back the very string it sent."""
    try:
        return _json(message).translate(_LINE_BREAKS).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(message, ensure_ascii=True, default=str).encode("ascii")


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _id_of(message: Any) -> Any:
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if _valid_id(request_id) else None
