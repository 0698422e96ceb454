"""Exit status, and the usage errors a command finds once its command line is parsed.

click reports what it finds while parsing (an unknown option, a value of the wrong type or out
of its range) with the command's usage line, exit status 2. What a command's own checks find
after that (options that do not go together, an empty ``--user-id``) is a usage error too:
:class:`~memoryd.cli.output.UsageError` and the :class:`~memoryd.errors.InvalidInputError` of an
option's value go through :func:`~memoryd.cli.output.errors_to_exit`, and a
``typer.BadParameter`` raised in a command's body through :class:`MemorydCommand`. Either way it
is one red line naming the option, with ``--json`` an error document on stdout, and exit 2.

:func:`finish_commands` gives every command (sub-apps' too) that class and an epilog on the
exit status, which the root's help (:data:`EXIT_STATUS`) explains in full; every group (the root,
``config``, ``keys``…) is a :class:`MemorydGroup`. Neither shows a value after a flag in its help.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import DefaultPlaceholder

from memoryd.cli.output import CliState, Output, UsageError

__all__ = ["COMMAND_EPILOG", "EXIT_STATUS", "MemorydCommand", "MemorydGroup", "finish_commands"]

EXIT_STATUS = (
    "Exit status: 0 done; 1 the operation failed (a store, server or model error, something not "
    "found, bad data in a file it read); 2 the command line was wrong (an option's value, options "
    "that do not go together, a missing scope) or the configuration is; 130 interrupted (Ctrl-C), "
    "after saying what was done. Health checks (serve --check, worker --check) exit 0 or 1. With "
    '--json an error is also a JSON document on stdout: {"error": {"code", "message", "field"}}.'
)
COMMAND_EPILOG = "Exit status: 0 done, 1 failed, 2 wrong command line or configuration, 130 interrupted."


def _json_flag(ctx: typer.Context) -> bool:
    """Whether the command's own ``--json`` is on (its parameter's name varies)."""
    return any(
        "--json" in (getattr(p, "opts", None) or []) and bool(ctx.params.get(p.name or ""))
        for p in ctx.command.params
    )


def _usage_error(ctx: typer.Context, exc: typer.BadParameter) -> UsageError:
    """``exc`` as a :class:`UsageError` that names the option by all its flags (``--user-id/-u``,
    as other errors do) and, in JSON, by its long flag as a field (``user_id``, ``qa_hits``)."""
    hint = exc.param_hint if isinstance(exc.param_hint, str) else None
    param = exc.param or next(
        (p for p in ctx.command.params if hint in (getattr(p, "opts", None) or [])), None
    )
    opts = list(getattr(param, "opts", None) or [])
    if opts:
        hint = "/".join(opts)
    long = next((o for o in opts if o.startswith("--")), None) or (hint or "").split("/")[0]
    field = long.lstrip("-").replace("-", "_") or (param.name if param is not None else None)
    message = f"Invalid value for {hint}: {exc.message}" if hint else exc.format_message()
    return UsageError(message, field=field or None)


# click's own usage error (an unknown option, a missing argument, a bad value): typer may vendor click
_CLICK_USAGE: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _parse_error(ctx: typer.Context, exc: Exception) -> UsageError:
    """What click found while parsing, as the error document of ``--json``."""
    if isinstance(exc, typer.BadParameter) and type(exc).__name__ != "MissingParameter":
        return _usage_error(ctx, exc)
    param = getattr(exc, "param", None)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return UsageError(message, field=getattr(param, "name", None) or None)


class _BareFlags:
    """A command whose help shows no value after a flag: typer's help put its type there
    (``--json <bool>``, ``--help <bool>``), as if the flag took a value (``--json true``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""  # what the help shows for its value: nothing
        return params


def _json_wanted(ctx: Any, args: list[str]) -> bool:
    """Whether ``--json`` is on for a group's error: the root's, or given anywhere on the line."""
    given = args[: args.index("--")] if "--" in args else args
    state = ctx.find_object(CliState)
    on = state is not None and state.output.json_mode
    return on or "--json" in given or bool(ctx.params.get("json_out"))


def _group_error(ctx: Any, error: UsageError) -> None:
    """``error``, which a group found, as the error document on stdout."""
    state = ctx.find_object(CliState)
    (state.output if state is not None else Output(json_mode=True)).json({"error": error.to_dict()})


class MemorydGroup(_BareFlags, TyperGroup):
    """A group (the root, ``config``, ``keys``…): its flags show no value in its help. What it
    refuses while parsing keeps click's report on stderr, and with ``--json`` an error document
    on stdout too, as a command's own parse errors do."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing and _json_wanted(ctx, args):
            # Not click's NoArgsIsHelpError: making it prints the group's help, on stdout.
            names = ", ".join(self.list_commands(ctx))
            _group_error(ctx, UsageError(f"missing command: give one of {names}", field="command"))
            raise cast(Any, _CLICK_USAGE)(f"Missing command: give one of {names}.", ctx=ctx)
        try:
            return super().parse_args(ctx, list(args))
        except _CLICK_USAGE as exc:
            if _json_wanted(ctx, args):
                _group_error(ctx, _parse_error(ctx, exc))
            raise

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except _CLICK_USAGE as exc:
            if _json_wanted(ctx, args):
                _group_error(ctx, _parse_error(ctx, exc))
            raise


class MemorydCommand(_BareFlags, TyperCommand):
    """A command whose own ``typer.BadParameter`` (raised in its body, once the command line is
    parsed) is reported as memoryd's usage errors are: one line, a JSON document with
    ``--json``, exit 2. What click finds while parsing keeps click's report on stderr, and with
    ``--json`` (the command's, or the root's) an error document on stdout too."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        given = args[: args.index("--")] if "--" in args else args
        try:
            return super().parse_args(ctx, list(args))
        except _CLICK_USAGE as exc:  # `mcp` has no --json: its stdout is the protocol's, kept empty
            state = ctx.find_object(CliState)
            has_json = any("--json" in (getattr(p, "opts", None) or []) for p in self.params)
            if state is not None and has_json and ("--json" in given or state.output.json_mode):
                state.output.json({"error": _parse_error(ctx, exc).to_dict()})
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.BadParameter as exc:
            if ctx.find_object(CliState) is None:  # run outside the memoryd app: click reports it
                raise
            output = CliState.of(ctx, _json_flag(ctx)).output
            output.error(_usage_error(ctx, exc))
            raise typer.Exit(2) from None


def finish_commands(app: typer.Typer) -> None:
    """Every command of ``app`` and its sub-apps: a :class:`MemorydCommand`, with
    :data:`COMMAND_EPILOG` after its help (unless it has an epilog of its own) and each paragraph
    of its help on one line (:func:`_reflowed`); ``app`` and its sub-apps: :class:`MemorydGroup`."""
    if isinstance(app.info.cls, DefaultPlaceholder):  # typer's default
        app.info.cls = MemorydGroup
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):  # typer's default
            info.cls = MemorydCommand
        info.epilog = info.epilog or COMMAND_EPILOG
        info.help = _reflowed(info.help if info.help is not None else inspect.getdoc(info.callback))
    for group in app.registered_groups:
        if group.typer_instance is not None:
            finish_commands(group.typer_instance)


def _reflowed(text: str | None) -> str | None:
    """``text`` with the line breaks inside each paragraph made spaces: typer's help keeps a
    docstring's own breaks and then wraps to the terminal too, so every paragraph after the first
    broke mid-sentence (``rules read in`` / ``them``). A paragraph marked ``\\b`` keeps its lines."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(p.split()) for p in paragraphs)
