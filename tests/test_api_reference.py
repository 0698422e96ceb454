"""docs/api.md names every parameter and field the code has, and none it does not.

The reference is a Markdown list: an entry is a bullet (``- ``) with its continuation lines, and its
nested bullets belong to its block. An entry starts with a code span naming what it documents:

- a signature, ``- `name(a, b=None, *, c)` …`` (a class: its constructor; ``memoryd.mod.fn(…)``:
  a module's function): every parameter but ``self``, in order, with ``*`` before the keyword-only
  ones; a default, when written, is the code's. A ``…`` in it (or ``name=...``) marks a partial
  mention (only the names written are checked).
- a class's method (a module's function), anywhere in the class's (module's) block: ``name(…)`` (or ``await mem.name(…)``) with its
  parameters; ``name()`` of a method that takes some only refers to it, it is no entry.
- a data class, ``- `Name` — …``: each field (a dataclass field, a pydantic field, an enum value)
  as a code span of its own in the entry.

A failure names the class or function and the names to add to, or remove from, docs/api.md.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import memoryd

API = Path(__file__).resolve().parents[1] / "docs" / "api.md"

# Heads that name no object the test can read, and why.
UNRESOLVED = {
    "AsyncMemory.tiers": "an instance attribute made in AsyncMemory.__init__, no class-level object",
}
# A class documented by another's names: its methods without an entry of their own must have the
# other's parameters exactly. True: its block must still name each method (a client has a subset).
MIRRORS = {
    "Memory": ("AsyncMemory", False),  # "every public name of AsyncMemory, synchronous"
    "AsyncMemoryClient": ("AsyncMemory", True),
    "MemoryClient": ("AsyncMemoryClient", False),  # "AsyncMemoryClient, synchronous"
}
# Names in memoryd.__all__ that docs/api.md need not mention, and why.
NOT_DOCUMENTED: dict[str, str] = {}

_ITEM = re.compile(r"^( *)- (.*)$")
_SPAN = re.compile(r"`([^`]+)`")
_HEAD = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)(?:\((?P<args>.*)\))?$", re.S)
_CALL = re.compile(r"^(?:await\s+)?(?:\w+\.)*(?P<name>\w+)\((?P<args>.*)\)$", re.S)
_ELLIPSIS = ("…", "...")


@dataclass
class Entry:
    section: str
    indent: int
    text: str
    block: str = ""  # its text and its nested entries'
    spans: list[str] = field(default_factory=list)


def _entries(markdown: str) -> list[Entry]:
    """Every bullet of the reference, its lines joined, with the text of its block."""
    entries: list[Entry] = []
    section, current = "", None
    for line in markdown.splitlines():
        if line.startswith("#"):
            section, current = line.lstrip("#").strip(), None
        elif m := _ITEM.match(line):
            current = Entry(section, len(m.group(1)), m.group(2))
            entries.append(current)
        elif not line.strip():
            current = None
        elif current is not None:
            current.text += " " + line.strip()
    for i, entry in enumerate(entries):
        inner = [entry.text]
        for later in entries[i + 1 :]:
            if later.section != entry.section or later.indent <= entry.indent:
                break
            inner.append(later.text)
        entry.block = " ".join(inner)
        entry.spans = [" ".join(s.split()) for s in _SPAN.findall(entry.block)]
    return entries


def _split_args(args: str) -> list[str]:
    """``a, b=(1, 2), *, c`` -> ``["a", "b=(1, 2)", "*", "c"]`` (commas inside brackets or quotes kept)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(args):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(args[start:i].strip())
            start = i + 1
    parts.append(args[start:].strip())
    return [p for p in parts if p]


def _signature_problems(where: str, written: str, obj: Any) -> list[str]:
    """How the parameter list ``written`` in the doc differs from ``obj``'s real signature."""
    params = [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]
    real = {p.name: p for p in params}
    names: list[str] = []
    keyword_only: set[str] = set()
    defaults: dict[str, str] = {}
    partial, star = False, False
    for part in _split_args(written):
        if part in _ELLIPSIS:
            partial = True
            continue
        if part == "*":
            star = True
            continue
        name, _, default = part.partition("=")
        name, default = name.strip().lstrip("*"), default.strip()
        if default in _ELLIPSIS:  # `get_all(run_id=...)`: a call that passes it, the value elided
            partial, default = True, ""
        if not name.isidentifier():
            return [f"{where}: cannot read the parameter {part!r} of `{written}`"]
        names.append(name)
        if star:
            keyword_only.add(name)
        if default:
            defaults[name] = default
    problems = []
    missing = [n for n in real if n not in names]
    extra = [n for n in names if n not in real]
    if missing and not partial:
        problems.append(f"{where}: docs/api.md lacks the parameter(s) {', '.join(missing)}")
    if extra:
        problems.append(f"{where}: docs/api.md names parameter(s) the code does not have: {', '.join(extra)}")
    for name in names:
        if name not in real:
            continue
        p = real[name]
        if (star or not partial) and (name in keyword_only) != (p.kind is p.KEYWORD_ONLY):
            side = "after" if p.kind is p.KEYWORD_ONLY else "before"
            problems.append(f"{where}: `{name}` goes {side} the `*` (it is {p.kind.description})")
        if name in defaults and not _same_default(defaults[name], p.default):
            shown = "none" if p.default is p.empty else repr(p.default)
            problems.append(f"{where}: `{name}={defaults[name]}` in docs/api.md, but its default is {shown}")
    positional = [n for n in names if n in real and real[n].kind is not inspect.Parameter.KEYWORD_ONLY]
    in_code = [n for n in real if n in positional]
    if positional != in_code:
        problems.append(f"{where}: positional parameters in the order {', '.join(in_code)}")
    return problems


def _parameters(fn: Any) -> str:
    """What an entry writes for ``fn``: ``memory_id, *, user_id, agent_id, run_id``."""
    out: list[str] = []
    for p in inspect.signature(fn).parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and "*" not in out:
            out.append("*")
        stars = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        out.append(stars + p.name)
    return ", ".join(out)


def _partial(written: str) -> bool:
    """``a, …`` or ``a=...``: a mention of some parameters, not the entry that lists them all."""
    return any(p in _ELLIPSIS or p.partition("=")[2].strip() in _ELLIPSIS for p in _split_args(written))


def _same_default(written: str, default: Any) -> bool:
    if default is inspect.Parameter.empty:
        return False
    try:
        return bool(ast.literal_eval(written) == default)
    except (ValueError, SyntaxError):
        return written == repr(default)


def _resolve(name: str) -> Any:
    """``AsyncMemory``, ``AsyncMemory.tiers`` or ``memoryd.maintenance.check_store`` -> the object."""
    parts = name.split(".")
    if parts[0] != "memoryd":
        obj: Any = getattr(memoryd, parts[0])
        for part in parts[1:]:
            obj = getattr(obj, part)
        return obj
    for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise AssertionError(f"{name} does not resolve")


def _public(cls: type) -> tuple[dict[str, Any], set[str]]:
    """A class's public methods (name -> function) and properties."""
    methods, properties = {}, set()
    for name in dir(cls):
        if name.startswith("_"):
            continue
        value = inspect.getattr_static(cls, name)
        if isinstance(value, property):
            properties.add(name)
        elif inspect.isfunction(value):
            methods[name] = getattr(cls, name)
    return methods, properties


def _fields(cls: type) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    if issubclass(cls, enum.Enum):
        return [str(member.value) for member in cls]
    model_fields = getattr(cls, "model_fields", None)  # pydantic
    return [n for n in model_fields if not n.startswith("_")] if model_fields else []


def _heads(entries: list[Entry]) -> dict[str, tuple[Entry, str | None]]:
    """What each entry documents: its leading code span's name -> (entry, its parameters or None)."""
    heads: dict[str, tuple[Entry, str | None]] = {}
    for entry in entries:
        if not entry.text.startswith("`"):
            continue
        m = _HEAD.match(" ".join(entry.text[1:].split("`", 1)[0].split()))
        if m and (m["name"] in memoryd.__all__ or "." in m["name"]):
            heads[m["name"]] = (entry, m["args"])
    return heads


def _method_entries(entry: Entry, methods: dict[str, Any]) -> dict[str, list[str]]:
    """Each method's mentions in a class's block: the parameter lists written for it."""
    found: dict[str, list[str]] = {}
    for span in entry.spans:
        m = _CALL.match(span)
        if not m or m["name"] not in methods:
            continue
        takes = [p for p in inspect.signature(methods[m["name"]]).parameters if p != "self"]
        if m["args"].strip() or not takes:  # `users()` in prose refers to users(*, user_id=None)
            found.setdefault(m["name"], []).append(m["args"])
    return found


def _problems(markdown: str) -> list[str]:
    entries = _entries(markdown)
    heads = _heads(entries)
    problems: list[str] = []
    for name, (entry, args) in sorted(heads.items()):
        if name in UNRESOLVED:
            continue
        try:
            obj = _resolve(name)
        except AttributeError as exc:
            problems.append(f"`{name}` in docs/api.md does not exist in the code ({exc})")
            continue
        if args is not None:
            problems += _signature_problems(name, args, obj)
        if inspect.ismodule(obj):  # `memoryd.portability.format`: its functions named with parameters
            functions = {
                n: f for n, f in vars(obj).items() if inspect.isfunction(f) and not n.startswith("_")
            }
            for function, written in sorted(_method_entries(entry, functions).items()):
                for one in written:
                    problems += _signature_problems(f"{name}.{function}", one, functions[function])
        if not inspect.isclass(obj):
            continue
        names = _fields(obj)
        spans = set(entry.spans)
        if names:
            missing = [f for f in names if f not in spans]
            if missing:
                problems.append(f"{name}: docs/api.md lacks the field(s) {', '.join(missing)}")
            if issubclass(obj, enum.Enum):
                extra = sorted(s for s in spans - {name} if s not in names)
                if extra:
                    problems.append(
                        f"{name}: docs/api.md names value(s) it does not have: {', '.join(extra)}"
                    )
        if args is None:
            continue  # a data class: its fields are its entry
        methods, properties = _public(obj)
        spans_of = _method_entries(entry, methods)
        for method, written in sorted(spans_of.items()):
            for one in written:
                problems += _signature_problems(f"{name}.{method}", one, methods[method])
        found = {m for m, written in spans_of.items() if not all(map(_partial, written))}
        mirror, lists_names = MIRRORS.get(name, (None, False))
        for method in sorted(set(methods) - set(found)):
            where = f"{name}.{method}"
            if mirror is None:
                problems.append(
                    f"{where}: no entry in docs/api.md; write `{method}({_parameters(methods[method])})`"
                )
                continue
            other = getattr(_resolve(mirror), method, None)
            if other is None:
                problems.append(f"{where}: not a method of {mirror}; give it an entry `{method}(…)`")
                continue
            if lists_names and method not in spans:
                problems.append(f"{where}: not named among {name}'s methods in docs/api.md")
            ours = [(p.name, p.kind) for p in inspect.signature(methods[method]).parameters.values()]
            theirs = [(p.name, p.kind) for p in inspect.signature(other).parameters.values()]
            if ours != theirs:
                missing = [n for n, _ in ours if n not in dict(theirs)]
                extra = [n for n, _ in theirs if n not in dict(ours)]
                problems.append(
                    f"{where}: its parameters are not {mirror}.{method}'s (it adds {missing or 'none'}, "
                    f"lacks {extra or 'none'}); write its own entry `{method}({_parameters(methods[method])})`"
                )
        if mirror is not None:
            other_methods, other_props = _public(_resolve(mirror))
            lacking = sorted((set(other_methods) | other_props) - set(methods) - properties)
            if lacking and not lists_names:  # "every public name of X"
                problems.append(f"{name}: docs/api.md says it has {mirror}'s names, but it lacks {lacking}")
            properties -= other_props  # documented with the mirror's
        missing = sorted(p for p in properties if p not in spans)
        if missing:
            problems.append(f"{name}: docs/api.md does not mention the attribute(s) {', '.join(missing)}")
    for name in memoryd.__all__:
        if name not in NOT_DOCUMENTED and f"`{name}" not in markdown:
            problems.append(f"{name} is in memoryd.__all__ but docs/api.md never mentions it")
    for name, status in re.findall(r"`(\w+Error)` \((\d{3})", markdown):
        real = getattr(memoryd, name, None)
        if real is None:
            problems.append(f"{name}: docs/api.md lists an error memoryd does not export")
        elif real.status_code != int(status):
            problems.append(f"{name}: docs/api.md says {status}, its status_code is {real.status_code}")
    return problems


def test_the_api_reference_matches_the_code() -> None:
    problems = _problems(API.read_text(encoding="utf-8"))
    assert not problems, "docs/api.md drifted from the code:\n" + "\n".join(problems)


SAMPLE = """## Clients

- `AsyncMemory(settings=None, *, embedder=None, storage=None, router=None, clock=None)` — the core.
  - `search(query, *, user_id, agent_id,
    run_id)` → hits.
  - `get(memory_id, *, owner, user_id, agent_id, run_id)` → one; `tree(user_id=None, *, agent_id=None,
    episodes=10, …)` → a dict; `delete(memory_id, user_id, *, agent_id, run_id)`; `add(messages)`;
    `get_all(run_id=..., page=2)` reads a session.

## Data

- `ContextItem` — one included memory: `id`, `tag`, `kind`, `section`, `text`, `score`, `tokens`,
  `truncated`.
- `Event` — `ADD`, `UPDATE`, `SUPERSEDE`, `DELETE`, `NOOP`, `ERROR`, `MOVE`.
"""


def test_the_checks_name_each_missing_or_extra_parameter_and_field() -> None:
    """The reference's own forms (a signature over two lines, a `…`) are read; a dropped or invented
    name, a misplaced `*` and a wrong default are each reported by name."""
    problems = _problems(SAMPLE)
    for expected in (
        "AsyncMemory: docs/api.md lacks the parameter(s) close_router",
        "AsyncMemory.search: docs/api.md lacks the parameter(s) filters, limit, threshold, as_of, explain, "
        "graph_hops, reference_time",
        "AsyncMemory.get: docs/api.md names parameter(s) the code does not have: owner",
        "AsyncMemory.tree: `episodes=10` in docs/api.md, but its default is 20",
        "AsyncMemory.delete: `user_id` goes after the `*` (it is keyword-only)",
        "AsyncMemory.add: docs/api.md lacks the parameter(s) user_id, agent_id, run_id, metadata, timestamp, mode",
        "AsyncMemory.get_all: no entry in docs/api.md; write `get_all(*, user_id, agent_id, run_id, filters, "
        "limit, offset, as_of, include_expired)`",
        "AsyncMemory.get_all: docs/api.md names parameter(s) the code does not have: page",
        "ContextItem: docs/api.md lacks the field(s) lead",
        "Event: docs/api.md names value(s) it does not have: MOVE",
        "Page is in memoryd.__all__ but docs/api.md never mentions it",
    ):
        assert expected in problems, f"{expected!r} not in {problems}"
    assert not [p for p in problems if p.startswith("AsyncMemory.tree: docs/api.md lacks")]  # the `…`
    assert not [p for p in problems if p.startswith("AsyncMemory.get_all: `run_id`")]  # `=...`: a call


def test_the_entries_of_every_documented_class_are_read() -> None:
    heads = _heads(_entries(API.read_text(encoding="utf-8")))
    for name in (
        "AsyncMemory",
        "Memory",
        "AsyncMemoryClient",
        "MemoryClient",
        "Context",
        "ContextItem",
        "HistoryEntry",
        "Page",
        "SearchHit",
        "load_settings",
        "memoryd.portability.export_store",
    ):
        assert name in heads, f"no entry for {name} was read from docs/api.md"
    assert heads["AsyncMemory"][1] is not None and heads["Page"][1] is None
