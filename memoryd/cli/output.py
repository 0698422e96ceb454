"""What every CLI command shares: its state, error reporting, input parsing and rendering.

:class:`CliState` (in ``ctx.obj``) carries the settings built once by the root
command and the :class:`Output`. Human output goes to stdout through
:mod:`rich`; errors, prompts and progress bars go to stderr, so ``--json``
leaves stdout holding one JSON document and nothing else. Expected errors
become one red line and an exit code (2 for a wrong command line or
configuration, 1 otherwise), never a traceback. The ``*_table`` functions are pure: data in, a renderable
out. Sub-apps such as ``memoryd bench`` import from here, not from the app.

Exit status (:func:`exit_code`, the one place an error becomes one): 0 done; 1 the operation
failed (a store, server or model error, something not found, bad data in a file it read); 2 the
command line was wrong (:func:`is_usage_error`: an option's value, options that do not go
together, a missing scope) or the configuration is; 130 interrupted.
"""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import typer
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from memoryd.cli import strict_json
from memoryd.cli.stdout import MemorydConsole, StdoutFile, interrupted_output, write_whole
from memoryd.config import Settings
from memoryd.embedders import Embedder
from memoryd.errors import ConfigError, InvalidInputError, MemorydError, NotFoundError, NotSupportedError
from memoryd.ingest.inputs import TOO_LONG_NUMBER
from memoryd.memory import AsyncMemory
from memoryd.models import AddResult, HistoryEntry, MemoryRecord, Page, SearchHit
from memoryd.registry import resolve
from memoryd.retrieval.related import SearchResults
from memoryd.wording import counted

__all__ = [
    "CliState",
    "FileDataError",
    "Interrupted",
    "Output",
    "UsageError",
    "add_table",
    "checks_table",
    "config_text",
    "counted",
    "errors_to_exit",
    "exit_code",
    "history_table",
    "hits_table",
    "is_usage_error",
    "load_embedder",
    "page_table",
    "parse_json_option",
    "printable",
    "read_messages",
    "record_table",
    "run_with_memory",
    "utf8_stdout",
]

T = TypeVar("T")

_STATUS_STYLE = {"ok": "green", "info": "cyan", "warn": "yellow", "fail": "bold red"}
# What JSON on stdout writes as \u escapes though it may hold it as is: C1 controls (U+009B is a
# terminal's CSI, as ESC [ is), bidirectional overrides and isolates (U+202E reverses the text a
# terminal shows), line and paragraph separators, and lone surrogates (a file name's byte that was
# not UTF-8: written raw, the document was not UTF-8). Only strings hold them: the document is the same.
_UNSAFE = re.compile("[\x80-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_STATUS_MARK = {"ok": "✓ ok", "info": "· info", "warn": "! warn", "fail": "✗ fail"}
_EVENT_STYLE = {"ADD": "green", "UPDATE": "cyan", "DELETE": "red", "NOOP": "yellow", "ERROR": "bold red"}


# API fields set by a CLI option of another name (the others share their option's name).
_FIELD_PARAMS = {"token_budget": "budget", "json": "json_out"}
_SCOPE_PARAMS = ("user_id", "agent_id", "run_id")
_TEXT_ROLE = re.compile(r"messages\[(\d+)\]\.(role|content)")
_TEXT_ITEM = re.compile(r"messages\[(\d+)\]")  # memoryd add's TEXT arguments come first
_FIELD_ROOT = re.compile(r"[^.\[]*")  # "filters.topic.$nope" → "filters"
# Arguments whose value an API field names (others, such as export's PATH, name a file it writes).
_ARGUMENT_FIELDS = frozenset({"memory_id", "query", "text"})


def printable(text: object) -> str:
    """``text`` as a terminal may be handed it: each character it would act on rather than show
    (ESC and the other controls, C1's CSI, a bidirectional override, a lone surrogate) written as
    Python escapes it (``\\x1b``, ``\\u202e``); line breaks and tabs kept. Stored text, metadata and
    names are anyone's writes: shown raw, ``ESC [2J`` clears the screen of whoever lists them."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else _escaped(c) for c in text)


def _escaped(c: str) -> str:
    return c.encode("unicode_escape", "backslashreplace").decode("ascii")


class UsageError(InvalidInputError):
    """The command line is wrong (exit 2): an option's value, or options that do not go together,
    found by the command's own checks. JSON output keeps ``invalid_input`` as its code."""


class FileDataError(InvalidInputError):
    """Bad data in a file the command line named (``--file``): the command line was right, the
    operation failed on what it read (exit 1)."""


def _options(command: Any) -> dict[str, str]:
    """The options of the running command (a click context): parameter name → ``--flag/-f``."""
    params = getattr(getattr(command, "command", None), "params", None) or []
    return {
        p.name: "/".join(p.opts)
        for p in params
        if getattr(p, "param_type_name", None) == "option" and p.name and getattr(p, "opts", None)
    }


def _flag_for(field: str, command: Any, options: Mapping[str, str]) -> str | None:
    """The option (or TEXT argument) of the running command that set the API field ``field``."""
    text = _TEXT_ROLE.fullmatch(field)
    if text is not None:  # memoryd add's TEXT arguments come first, each with --role
        texts, i = (getattr(command, "params", None) or {}).get("texts") or [], int(text.group(1))
        if i >= len(texts) or text.group(2) == "role":
            return options.get("role") if i < len(texts) else None
        return "TEXT - (stdin)" if texts[i] == "-" else f"TEXT #{i + 1}"  # not messages[0].content
    return options.get(_FIELD_PARAMS.get(field, field))


def is_usage_error(exc: MemorydError, command: Any) -> bool:
    """Whether ``exc`` says the command line was wrong (exit 2): a :class:`ConfigError` or a
    :class:`UsageError`, or an :class:`InvalidInputError` about an API field that the running
    command (a click context) sets from its command line: one of its options (``--limit``,
    ``--filters``, a scope's ``--user-id``), its ID, QUERY or TEXT argument, or a message of its
    TEXT arguments; or a :class:`NotSupportedError` of such a field (``--mode fine`` with no LLM
    configured). Not bad data in a file it read (:class:`FileDataError`, the messages of
    ``--file``), nor a file it fails to write."""
    if isinstance(exc, (ConfigError, UsageError)):
        return True
    if not isinstance(exc, (InvalidInputError, NotSupportedError)) or isinstance(exc, FileDataError):
        return False
    if not exc.field:
        return False
    params = getattr(getattr(command, "command", None), "params", None) or []
    kinds = {p.name: getattr(p, "param_type_name", None) for p in params if p.name}
    item = _TEXT_ITEM.match(exc.field)
    if item is not None:  # a message: of a TEXT argument, or of --file (its data)
        texts = (getattr(command, "params", None) or {}).get("texts") or []
        return int(item.group(1)) < len(texts)
    root = _FIELD_ROOT.match(exc.field)
    name = root.group(0) if root else exc.field
    name = _FIELD_PARAMS.get(name, name)
    return kinds.get(name) == "option" or (kinds.get(name) == "argument" and name in _ARGUMENT_FIELDS)


def exit_code(exc: MemorydError, command: Any) -> int:
    """The exit status of a command ended by ``exc``: 2 when the command line (or the
    configuration) was wrong (:func:`is_usage_error`), else 1 (the operation failed)."""
    return 2 if is_usage_error(exc, command) else 1


def cli_message(exc: MemorydError, command: Any) -> str:
    """``exc``'s message for people at a terminal: the API fields that the running command sets
    through options are named by their flags (``user_id`` → ``--user-id/-u``); a field that no
    option sets is named as it is. JSON output keeps the API's ``field`` for scripts."""
    options = _options(command)
    message, field = exc.message, exc.field or ""
    flag = _flag_for(field, command, options) if field else None
    if flag is not None and message.startswith(f"{field} "):
        message = flag + message[len(field) :]  # "limit must be …" → "--limit/-n must be …"
    for name, param in [*((f, f) for f in _SCOPE_PARAMS), *_FIELD_PARAMS.items()]:
        if param in options:  # identifiers with an underscore: never an English word
            message = re.sub(rf"(?<![\w'\"./-]){name}(?![\w'\"])", options[param], message)
    if not field:
        return message
    if flag is None:
        return f"{message} (field: {field})"
    return message if flag in message else f"{message} (option: {flag})"


class Output:
    """Where one CLI invocation writes: a stdout console, a stderr console, the JSON switch."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        _lenient_stdout()
        # Every write whole, a broken pipe as the JSON's (memoryd.cli.stdout)
        self.out: Console = MemorydConsole(file=cast(IO[str], StdoutFile()), highlight=False)
        self.err: Console = MemorydConsole(stderr=True, highlight=False)
        self.command: Any = None  # the running command's click context (set by CliState.of)
        self.hints: list[str] = []  # remarks for stderr once the human output is shown
        if not self.out.is_terminal and "COLUMNS" not in os.environ:
            self.out.width = 160  # piped: keep rows whole for grep rather than rich's 80 columns

    @property
    def compact(self) -> bool:
        """Whether stdout is too narrow for wide tables."""
        return self.out.width < 110

    def json(self, document: Any) -> None:
        """Write one JSON document to stdout (plain text, never colourised); a closed stdout (`>&-`)
        is :func:`write_whole`'s error, said once on stderr (:func:`output_lost`), exit 1."""
        text = json.dumps(document, ensure_ascii=not utf8(sys.stdout), indent=2, default=str)
        with interrupted_output(self.note):  # Ctrl-C on a full pipe: "interrupted", exit 130
            write_whole(_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")

    def emit(self, document: Any, *renderables: RenderableType, soft_wrap: bool = False) -> None:
        """The document as JSON in ``--json`` mode, else the renderables (``soft_wrap``: lines kept
        whole however long, for text read back as a file: TOML)."""
        if self.json_mode:
            self.json(document)
            return
        if renderables and sys.stdout is None:  # `>&-`: rich would drop the table without a word
            raise OSError(errno.EBADF, "stdout is closed")
        with interrupted_output(self.note):
            for item in renderables:
                self.out.print(item, soft_wrap=soft_wrap)
        for hint in self.hints:
            self.err.print(hint, soft_wrap=True)
        self.hints.clear()

    def note(self, message: str) -> None:
        """A human remark on stderr (never pollutes the JSON on stdout)."""
        self.err.print(message)

    def confirm(self, question: str, nothing: str) -> None:
        """Ask ``question`` (y/N) on stderr; any answer but yes says ``nothing`` was done and that
        --yes skips the question, and exits 1. With no terminal to ask on (stdin is not one and
        gives no answer: ``< /dev/null``, a cron job) the question cannot be answered: a usage
        error naming --yes, exit 2. All of the question goes to stderr: click writes its last
        character through ``input()``, to stdout, where ``--json`` allows one JSON document only."""
        skip = "pass --yes to skip the question"
        readable = sys.stdin is not None and not sys.stdin.closed  # started with stdin closed: no
        terminal = readable and sys.stdin.isatty()
        agreed: bool | None = None  # None: no answer
        if readable:
            try:
                with redirect_stdout(sys.stderr):
                    agreed = typer.confirm(question, err=True)
            except typer.Abort as exc:  # the end of input, or Ctrl-C: "interrupted", exit 130
                if terminal:
                    self.note("")  # end the question's line (^C or ^D echoed, no newline)
                if isinstance(exc.__context__, KeyboardInterrupt):
                    with errors_to_exit(self):
                        raise Interrupted(nothing) from None
            if not terminal:
                self.note("")  # end the question's line (no echoed answer)
        if agreed is None and not terminal:
            why = "no answer to the question, and stdin is not a terminal to ask on"
            self.error(UsageError(f"{nothing}: {why}; pass --yes/-y to skip it", field="yes"))
            raise typer.Exit(2)
        if not agreed:
            self.error(InvalidInputError(f"{nothing} ({skip})"))
            raise typer.Exit(1)

    def error(self, exc: MemorydError, document: Mapping[str, Any] | None = None) -> None:
        """One red line on stderr; in ``--json`` mode also an error document on stdout (with
        ``document``'s keys, say what was done before the error)."""
        said = escape(printable(cli_message(exc, self.command)))
        self.err.print(f"[red]error:[/red] {said}", soft_wrap=True)
        if self.json_mode:
            self.json({**(document or {}), "error": exc.to_dict()})


def utf8(stream: Any) -> bool:
    """Whether ``stream`` encodes text as UTF-8 (any character can be written to it)."""
    return str(getattr(stream, "encoding", None) or "").lower().replace("_", "-") in ("utf-8", "utf8")


def _lenient_stdout() -> None:
    """A stdout that is not UTF-8 (``PYTHONIOENCODING=ascii``, a latin-1 locale, a Windows code
    page) writes a character it has no code for as ``?``: else the first ``é`` or ``✓`` of a
    table ended the command in a traceback after its work was done. JSON stays exact
    (:meth:`Output.json` escapes such characters), and so does ``export -`` (:func:`utf8_stdout`)."""
    if isinstance(sys.stdout, io.TextIOWrapper) and not utf8(sys.stdout):
        with suppress(ValueError):
            sys.stdout.reconfigure(errors="replace")


def utf8_stdout() -> None:
    """stdout writes UTF-8 whatever the locale says: for a file written to it (``export -``),
    whose format is UTF-8 and which must lose no character."""
    if isinstance(sys.stdout, io.TextIOWrapper) and not utf8(sys.stdout):
        with suppress(ValueError):
            sys.stdout.flush()
            sys.stdout.reconfigure(encoding="utf-8", errors="strict")


@dataclass
class CliState:
    """What the root command hands to every command (``ctx.obj``)."""

    output: Output
    config_path: str | None
    env: dict[str, str]
    settings: Settings | None
    config_error: ConfigError | None
    tenant: str | None = None  # the root's --tenant/-t (settings are that tenant's already)
    base: Settings | None = None  # the settings before any tenant was applied

    def tenant_of(self, command_tenant: str | None) -> str | None:
        """The tenant a command acts on: its own ``--tenant``, else the root's; both given and
        different is a usage error (exit 2), never one silently winning over the other."""
        from memoryd.auth.principal import check_tenant

        if command_tenant is not None and self.tenant is not None and command_tenant != self.tenant:
            self.output.error(
                ConfigError(f"--tenant {command_tenant!r} contradicts the root -t/--tenant {self.tenant!r}")
            )
            raise typer.Exit(2)
        chosen = command_tenant if command_tenant is not None else self.tenant
        try:
            return check_tenant(chosen, "--tenant") if chosen is not None else None
        except MemorydError as exc:  # a usage error, as the root's -t is (exit 2)
            self.output.error(ConfigError(exc.message, field=exc.field))
            raise typer.Exit(2) from None

    @classmethod
    def of(cls, ctx: typer.Context, json_flag: bool = False) -> CliState:
        """The state of this invocation; a command's own ``--json`` switches JSON on."""
        state = ctx.find_object(cls)
        if state is None:
            raise RuntimeError("memoryd commands run under the root `memoryd` command")
        if json_flag:
            state.output.json_mode = True
        state.output.command = ctx
        return state

    def require_settings(self) -> Settings:
        """The settings; a configuration error ends the command with exit code 2."""
        if self.settings is None:
            self.output.error(self.config_error or ConfigError("no settings"))
            raise typer.Exit(2)
        return self.settings


@contextmanager
def health_check_exit() -> Iterator[None]:
    """A health check exits 0 (healthy) or 1: Docker reserves 2, the code of a configuration
    error elsewhere (the error line still says what is wrong)."""
    try:
        yield
    except typer.Exit as exc:
        raise typer.Exit(0 if exc.exit_code == 0 else 1) from None


class Interrupted(Exception):
    """Ctrl-C stopped a command part way through work it had partly done: ``report`` says how
    far it got, ``document`` is what it had done (``--json`` prints it). Raised by the command's
    own code once what it started is finished, so the report is true; exit status 130 as for
    any interrupt."""

    def __init__(self, report: str, document: Mapping[str, Any] | None = None) -> None:
        super().__init__(report)
        self.report = report
        self.document = document


@contextmanager
def errors_to_exit(output: Output) -> Iterator[None]:
    """Expected errors become one red line and an exit code (:func:`exit_code`: 2 for a wrong
    command line or configuration, else 1); never a traceback. An interrupt
    exits 130, saying what was done before it when the command knows (:class:`Interrupted`)."""
    try:
        yield
    except MemorydError as exc:
        output.error(exc)
        raise typer.Exit(exit_code(exc, output.command)) from None
    except Interrupted as exc:
        output.err.print(f"[yellow]interrupted:[/yellow] {escape(exc.report)}", soft_wrap=True)
        if output.json_mode:
            output.json({**(exc.document or {}), "interrupted": True})
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        output.note("[yellow]interrupted[/yellow]")
        if output.json_mode:  # a script reading stdout still gets one JSON document
            output.json({"interrupted": True})
        raise typer.Exit(130) from None


# What a failed write of the output raises: no room, or nobody reading any more.
_OUTPUT_LOST = {errno.ENOSPC, errno.EDQUOT, errno.EPIPE, errno.EIO, errno.EBADF}


def output_lost(exc: BaseException) -> bool:
    """Whether ``exc`` is stdout failing (a full disk, a closed stdout); if so, it is said once on
    stderr and stdout is set aside, so that the exit does not fail on it again. A reader that went
    away (``| head -1``, EPIPE) ends a command quietly with exit 1 before it gets here: typer's
    handling of a broken pipe (:mod:`memoryd.cli.stdout`)."""
    if not isinstance(exc, OSError) or exc.errno not in _OUTPUT_LOST:
        return False
    with suppress(Exception):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - what is left is never written
    with suppress(Exception):
        sys.stderr.write(f"error: cannot write the output: {exc.strerror or exc}\n")
    return True


_EMBEDDERS: dict[tuple[str, int, int], Embedder] = {}


def _embedder_key(settings: Settings) -> tuple[str, int, int]:
    cfg = settings.embedder
    return (cfg.provider, cfg.threads, cfg.batch_size)


def load_embedder(settings: Settings) -> Embedder:
    """The configured embedder, loaded once per process."""
    key = _embedder_key(settings)
    if key not in _EMBEDDERS:
        cfg = settings.embedder
        _EMBEDDERS[key] = resolve("embedder", cfg.provider)(threads=cfg.threads, batch_size=cfg.batch_size)
    return _EMBEDDERS[key]


def require_store(settings: Settings, base: Settings | None = None) -> None:
    """Refuse to work on an embedded store that does not exist: SQLite would create an empty one,
    and a mistyped path (or an unmounted volume) would read as an empty, healthy store.
    ``base``: the settings before a tenant was chosen (a missing tenant store names the tenant)."""
    cfg = settings.storage
    if cfg.records == "sqlite" and not Path(cfg.path).exists():
        if base is not None and Path(base.storage.path) != Path(cfg.path):  # --tenant chose it
            # The folder is the tenant's name, with a suffix after a dot when it has capitals
            # (memoryd/tenant_folders.py; a tenant name has no dot): "ACME.f" is the tenant ACME.
            tenant = Path(cfg.path).parent.name.partition(".")[0]
            raise NotFoundError(
                f"no store for the tenant {tenant!r} yet (no {cfg.path}): check the name (tenant names "
                f"are case-sensitive); `memoryd --tenant {tenant} add` creates the tenant's store",
                field="tenant",
            )
        raise NotFoundError(
            f"no store at {cfg.path} (storage.path): set MEMORYD_STORAGE__PATH or storage.path to an "
            "existing one; `memoryd add`, `import`, `serve`, `mcp` and `worker` create a new one",
            field="storage.path",
        )


def run_with_memory(
    state: CliState,
    work: Callable[[AsyncMemory], Awaitable[T]],
    *,
    create: bool = False,
    indexes: bool = True,
) -> T:
    """Open the store, run ``work`` on it and close it; library errors are reported. A missing
    store is an error unless ``create`` (commands that only read or change what is stored).
    ``indexes=False``: the store opens without its keyword and vector indexes, which ``work``
    opens if it needs them (:meth:`AsyncMemory.open_without_indexes`).

    The model loads only when the command embeds something (add, search); a model
    loaded once is reused by later commands in the same process."""
    settings = state.require_settings()
    if not create:
        with errors_to_exit(state.output):
            require_store(settings, state.base)
    key = _embedder_key(settings)

    async def go() -> T:
        mem = AsyncMemory(settings, embedder=_EMBEDDERS.get(key))
        try:
            await (mem.open() if indexes else mem.open_without_indexes())
            result = await work(mem)
            if not state.output.json_mode and _found_nothing(result):
                hint = await empty_scope_hint(mem, getattr(state.output.command, "params", None) or {})
                if hint:
                    state.output.hints.append(hint)
            return result
        finally:
            if mem.loaded_embedder is not None:
                _EMBEDDERS[key] = mem.loaded_embedder
            await mem.close()

    with errors_to_exit(state.output):
        return asyncio.run(go())


def _found_nothing(result: Any) -> bool:
    """Whether ``result`` is a listing's first page, a search or an export that found nothing."""
    from memoryd.portability.export import ExportSummary

    if isinstance(result, Page):
        return not result.items and result.total == 0 and result.offset == 0
    if isinstance(result, ExportSummary):  # a backup of a user named in the wrong case, say
        return not any(result.counts.values())
    return isinstance(result, SearchResults) and not result


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


async def empty_scope_hint(mem: AsyncMemory, params: Mapping[str, Any]) -> str | None:
    """For a ``list``, ``search`` or ``export`` that found nothing: if the scope it named (``params``, the
    command's) holds no memory at all, a hint saying so, naming the same ids in other case if
    they hold some (ids are case-sensitive); ``None`` when the scope has memories (filters,
    ``--as-of`` or the query left them out) or the check fails."""
    scope = {k: params[k] for k in _SCOPE_PARAMS if isinstance(params.get(k), str)}
    if not scope:
        return None
    try:
        if (await mem.get_all(limit=1, **scope)).total:
            return None
        named = " ".join(f"{_flag(k)} {v!r}" for k, v in scope.items())
        for name, value in scope.items():
            for other in dict.fromkeys((value.strip(), value.lower(), value.upper(), value.capitalize())):
                if other and other != value and (await mem.get_all(limit=1, **{**scope, name: other})).total:
                    return (
                        f"[yellow]hint:[/yellow] no memories for {escape(named)}, but "
                        f"{_flag(name)} {escape(repr(other))} has some (ids are case-sensitive)"
                    )
    except MemorydError:
        return None
    return (
        f"[yellow]hint:[/yellow] no memories for {escape(named)} (ids are case-sensitive; "
        "`memoryd users`, as a server's GET /v1/users, lists the known users and agents)"
    )


def _loads(
    text: str, what: str, field: str, where: Callable[[json.JSONDecodeError], str],
    error: type[InvalidInputError],
) -> Any:  # fmt: skip
    """JSON text, or an ``error`` naming ``what`` (never a traceback: a number past Python's digit
    cap and nesting past the parser's stack are the input's fault too)."""
    try:
        return strict_json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc.msg}{where(exc)}", field=field) from None
    except strict_json.RepeatedKeyError as exc:
        raise error(f"{what} names the key {exc.path!r} twice in one object", field=field) from None
    except ValueError:
        raise error(f"{what} holds {TOO_LONG_NUMBER}", field=field) from None
    except RecursionError:
        raise error(f"{what} nests too deeply to be read", field=field) from None


def parse_json_option(value: str | None, option: str) -> dict[str, Any] | None:
    """A ``--option JSON`` value that must be an object; errors name the option (usage: exit 2)."""
    if value is None:
        return None
    parsed = _loads(value, f"--{option}", option, lambda exc: f" at column {exc.colno}", UsageError)
    if not isinstance(parsed, dict):
        msg = f"--{option} must be a JSON object, got {type(parsed).__name__}"
        raise UsageError(msg, field=option)
    return parsed


def read_messages(path: Path) -> list[Any]:
    """Messages from a JSON list or a JSONL file (one string or message object per line; ``-``:
    stdin). A file that cannot be read is a usage error (the option names no readable file); what
    it holds that is not JSON, a :class:`FileDataError`."""
    if str(path) == "-" and sys.stdin is None:  # stdin closed (<&-)
        raise UsageError("cannot read -: stdin is closed", field="file")
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}", field="file") from None
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data.count(b"\n", 0, exc.start) + 1
        raise FileDataError(f"{path}: line {bad_line} is not UTF-8 text", field="file") from None
    raw = raw.removeprefix("\ufeff")  # the byte-order mark editors on Windows write
    if raw.lstrip().startswith("["):
        return list(_loads(raw, str(path), "file", lambda exc: f" (line {exc.lineno})", FileDataError))
    return [
        _loads(line, f"{path} line {number}", "file", lambda exc: "", FileDataError)
        for number, line in enumerate(raw.split("\n"), 1)  # not splitlines(): U+2028 is in JSON strings
        if line.strip()
    ]


def when(value: datetime | None) -> str:
    """A time for people: local, to the minute (JSON output keeps ISO 8601 UTC)."""
    if value is None:
        return ""
    try:
        local, zone = value.astimezone(), ""
    except (OverflowError, ValueError):  # year 1 west of UTC, or 9999 east of it: no local time
        local, zone = value.astimezone(UTC), " UTC"
    return f"{local.year:04d}-{local:%m-%d %H:%M}{zone}"  # %Y writes year 1 as "1"


def _record_when(memory: MemoryRecord) -> str:
    return when(memory.event_time or memory.created_at)


def add_table(results: Iterable[AddResult], *, compact: bool = False) -> Table:
    """One row per result; ``compact`` folds the event and kind under the text (narrow terminals)."""
    table = Table(title="add", title_justify="left", show_edge=False)
    table.add_column("#", justify="right")
    if not compact:
        table.add_column("event")
        table.add_column("kind")
    table.add_column("id", no_wrap=True, min_width=36)
    table.add_column("text / reason", overflow="fold", min_width=20)
    for r in results:
        detail = Text(printable(r.text or ""))
        if r.previous:
            detail.append(f"  (was: {printable(r.previous)})", style="dim")
        if r.reason:
            detail.append(f"  ({printable(r.reason)})", style="dim")
        event = Text(r.event.value, style=_EVENT_STYLE.get(r.event.value, ""))
        if compact:
            detail.append("\n").append_text(event).append(f" · {r.kind}", style="dim")
            table.add_row(str(r.index), r.id or "", detail)
        else:
            table.add_row(str(r.index), event, r.kind, r.id or "", detail)
    return table


def _explain_text(explain: Mapping[str, Any] | None) -> Text:
    if not explain:
        return Text("")
    parts = []
    if explain.get("dense_cosine") is not None:
        parts.append(f"cos {explain['dense_cosine']:.3f} #{explain.get('dense_rank')}")
    if explain.get("bm25") is not None:
        parts.append(f"bm25 {explain['bm25']:.2f} #{explain.get('bm25_rank')}")
    if explain.get("recency") is not None:
        parts.append(f"rec {explain['recency']:.2f}")
    return Text(", ".join(parts), style="dim")


def _memories_table(
    title: str,
    memories: list[MemoryRecord],
    *,
    scores: list[float] | None = None,
    explains: list[dict[str, Any] | None] | None = None,
    compact: bool = False,
) -> Table:
    """One row per memory; ``compact`` folds kind, role and time under the text (narrow terminals)."""
    table = Table(title=title, title_justify="left", show_edge=False)
    if scores is not None:
        table.add_column("score", justify="right", no_wrap=True, min_width=6)
    table.add_column("id", no_wrap=True, min_width=36)
    if not compact:
        for name in ("kind", "role", "when"):
            table.add_column(name, no_wrap=True)
    table.add_column("text", overflow="fold", ratio=1, min_width=20)
    if explains is not None and not compact:
        table.add_column("why", overflow="fold")
    for i, m in enumerate(memories):
        row: list[RenderableType] = [] if scores is None else [f"{scores[i]:.4f}"]
        row.append(m.id)
        meta = [m.kind.value, m.role or "", _record_when(m)]
        text = Text(printable(m.text), style="" if m.is_current else "dim")
        if not m.is_current:  # dim alone is lost in a pipe, or with no colour
            text.append(f"  (valid until {when(m.valid_to)})", style="dim")
        why = _explain_text(explains[i]) if explains is not None else None
        if compact:
            text.append("\n" + " · ".join(p for p in meta if p), style="dim")
            if why:
                text.append("\n").append_text(why)
            row.append(text)
        else:
            row += [*meta, text]
            if why is not None:
                row.append(why)
        table.add_row(*row)
    return table


def hits_table(hits: list[SearchHit], *, explain: bool = False, compact: bool = False) -> Table:
    return _memories_table(
        counted(len(hits), "result", "results"),
        [h.memory for h in hits],
        scores=[h.score for h in hits],
        explains=[h.explain for h in hits] if explain else None,
        compact=compact,
    )


def page_table(page: Page, *, compact: bool = False) -> Table:
    if page.items:
        title = f"memories {page.offset + 1}–{page.offset + len(page.items)} of {page.total}"
    elif page.total:
        title = f"no memories from {page.offset + 1} on, of {page.total}"
    else:
        title = "no memories"
    return _memories_table(title, page.items, compact=compact)


def record_table(memory: MemoryRecord) -> Table:
    table = Table(show_header=False, show_edge=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in memory.to_dict().items():
        if key == "memory" or value in (None, [], {}):
            continue
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
        table.add_row(key, Text(printable(shown)))
    return table


def history_table(entries: list[HistoryEntry]) -> Table:
    title = f"history of {entries[0].memory_id}" if entries else "history"
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("#", justify="right")
    table.add_column("event")
    table.add_column("when", no_wrap=True)
    table.add_column("actor", no_wrap=True)
    table.add_column("old", overflow="fold")
    table.add_column("new", overflow="fold")
    for e in entries:
        new = Text(printable(e.new_text or ""))
        if e.details.get("metadata_changed"):  # else a metadata-only update looks like no change at all
            new.append("  (metadata changed)", style="dim")
        table.add_row(
            str(e.id),
            Text(e.event.value, style=_EVENT_STYLE.get(e.event.value, "")),
            when(e.created_at),
            Text(printable(e.actor)),
            Text(printable(e.old_text or ""), style="dim"),
            new,
        )
    return table


def checks_table(checks: Iterable[Any]) -> Table:
    """Doctor results (records with name, status, detail, fix)."""
    table = Table(title="memoryd doctor", title_justify="left", show_edge=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("detail / fix", overflow="fold", ratio=1)
    for c in checks:
        body = Text(c.detail)
        if c.fix:
            body.append("\nfix: ", style="bold")
            body.append(c.fix)
        # the name is text (a target's label: config), never markup
        table.add_row(Text(_STATUS_MARK[c.status], style=_STATUS_STYLE[c.status]), Text(c.name), body)
    return table


def _toml_value(value: Any) -> str:
    """``value`` in TOML: lists as arrays, mappings as inline tables (keys without a value left
    out: TOML has no null)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        pairs = [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items() if v is not None]
        inner = ", ".join(pairs)
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    return json.dumps(value, ensure_ascii=False)


def _nested_origin(sources: Mapping[str, str], prefix: str) -> str:
    """Where the keys of a nested table (``storage.qdrant``) came from: "default" when none was set."""
    found = sorted({origin for key, origin in sources.items() if key.startswith(prefix)})
    return "; ".join(found) or "default"


def config_text(
    data: Mapping[str, Any], sources: Mapping[str, str] | None = None, unset: Mapping[str, str] | None = None
) -> Text:
    """The settings as TOML, each value annotated with where it came from; ``unset``: what a setting
    not set uses instead (``auth.keys_path``: the ``keys.db`` beside the database)."""
    sources, unset = sources or {}, unset or {}
    out = Text()
    for section, values in data.items():
        if not isinstance(values, Mapping):
            out.append(f"{section} = {_toml_value(values)}\n")
            continue
        out.append(f"[{section}]\n", style="bold")
        for key, value in values.items():
            # TOML has no null: a setting without a value is shown commented out
            instead = unset.get(f"{section}.{key}")
            if value is not None:
                out.append(f"{key} = {_toml_value(value)}")
            else:
                out.append(f"# {key} = (not set{f': {instead}' if instead else ''})")
            origin = sources.get(f"{section}.{key}") or _nested_origin(sources, f"{section}.{key}.")
            out.append(f"  # {origin}\n", style="dim" if origin == "default" else "cyan")
        out.append("\n")
    out.rstrip()
    return out
