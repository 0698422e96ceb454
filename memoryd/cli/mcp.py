"""``memoryd mcp``: serve memory tools to an agent over MCP's stdio transport.

An MCP client (Claude Desktop, Cursor, an agent framework) starts this command and
talks JSON-RPC on its stdin/stdout; see :mod:`memoryd.mcp`. The store is the one the
settings name (created if missing, as ``serve`` does); several clients may each run
one on the same store.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from memoryd.cli.output import CliState, errors_to_exit
from memoryd.errors import InvalidInputError
from memoryd.mcp import serve_stdio
from memoryd.mcp.tools import bound_scope

__all__ = ["mcp"]


def mcp(
    ctx: typer.Context,
    user_id: Annotated[
        str | None,
        typer.Option(
            "--user-id", "-u", help="Bind every tool to this user (else each call names its scope)."
        ),
    ] = None,
    agent_id: Annotated[
        str | None, typer.Option("--agent-id", "-a", help="Bind every tool to this agent.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", "-r", help="Bind every tool to this session.")
    ] = None,
) -> None:
    """Serve memory tools over MCP (stdio): add, search, context, list, get, update, delete, history.

    stdout carries only protocol messages; logs and errors go to stderr. Runs until
    the client closes stdin (or SIGTERM); calls under way finish first.
    """
    state = CliState.of(ctx)
    state.output.json_mode = False  # stdout is the protocol's: errors go to stderr only, even with --json
    options = {"user_id": "--user-id", "agent_id": "--agent-id", "run_id": "--run-id"}
    for name, value in (("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id)):
        if value is not None and not value.strip():  # a host's "${USER_ID}" with the variable unset
            raise typer.BadParameter("must not be empty", param_hint=options[name])
    try:  # too long, a control character, not UTF-8: refused at start, not in every call
        bound_scope(user_id, agent_id, run_id)
    except InvalidInputError as exc:
        name = exc.field or "user_id"
        reason = exc.message.removeprefix(f"{name} ")
        raise typer.BadParameter(reason, param_hint=options.get(name, "--user-id")) from None
    settings = state.require_settings()
    with errors_to_exit(state.output):
        asyncio.run(serve_stdio(settings, user_id=user_id, agent_id=agent_id, run_id=run_id))
