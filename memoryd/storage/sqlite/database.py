"""One SQLite file, one writer thread, many readers.

Every write goes through a single writer thread fed by a queue, inside
``BEGIN IMMEDIATE … COMMIT``; reads run on a small pool of threads, each with
its own connection (WAL lets them proceed while a write is in progress), but
for point reads (a few rows by key), which run on the calling thread.

Stores that share a database join one transaction: inside
``async with db.transaction():`` each ``db.write(op)`` is staged, and all
staged operations commit together when the block exits — so a memory, its
history, its keyword entry and its vector land atomically or not at all.
Hooks passed as ``after_commit`` run on the writer thread once the commit is
durable, before the write returns (used to refresh in-memory caches).

Checkpoints (copying the WAL back into the database file) run on a thread of
their own, after commits, instead of inside the commit that crosses SQLite's
1,000-page mark: a write waits only for its own pages. Measured on batched
ingest: 128-message adds 4-8% faster. On a SQLite with the WAL-reset bug a checkpoint
and a commit never overlap, in any process (:mod:`memoryd.storage.sqlite.wal_guard`).

Deleted content is overwritten, not merely unlinked: every connection runs with
``secure_delete`` on, so a deleted row's bytes are zeroed in its page and a freed page is
zeroed whole (measured on 20 adds of 128 messages: 0-2% slower, within run-to-run noise). The WAL
still holds the pages as they were before, until it starts over: an erasure ends with
:meth:`SQLiteDatabase.truncate_wal`, which copies the WAL into the file and empties it.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from memoryd.errors import StorageError
from memoryd.storage.sqlite import changes
from memoryd.storage.sqlite.changes import Changed, Watcher
from memoryd.storage.sqlite.file_identity import FileIdentity
from memoryd.storage.sqlite.gone_index import table_gone
from memoryd.storage.sqlite.wal_guard import WalGuard

__all__ = [
    "Op",
    "SQLiteDatabase",
    "broken_rules",
    "execute_script",
    "has_table",
    "holds_rows_without",
    "private_file",
    "read_together",
    "translate_errors",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]
Hook = Callable[[], None]


@dataclass
class _UnitOfWork:
    db: SQLiteDatabase
    ops: list[Op] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    last: list[Op] = field(default_factory=list)  # before_commit steps: after every staged write


_BEFORE_COMMIT_S = 600.0  # what a before_commit step may take (a remote index's own timeout is shorter)

@dataclass(frozen=True)
class _Snapshot:
    """One read transaction on a connection of its own: what :meth:`SQLiteDatabase.snapshot` pins."""

    db: SQLiteDatabase
    thread: ThreadPoolExecutor
    conn: sqlite3.Connection


_pinned: contextvars.ContextVar[_Snapshot | None] = contextvars.ContextVar(
    "memoryd_sqlite_snapshot", default=None
)
_current: contextvars.ContextVar[_UnitOfWork | None] = contextvars.ContextVar(
    "memoryd_sqlite_uow", default=None
)


# One row counting commits that changed rows: a process that sees it move by more than its own
# commits knows another process wrote to the file. A write that changed no row (the schema a
# command creates when missing, as every command does at open) moves nothing: no cache is lost.
_GENERATION_TABLE = (
    "CREATE TABLE IF NOT EXISTS memoryd_generation (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "gen INTEGER NOT NULL)"
)
_NEXT_GENERATION = "UPDATE memoryd_generation SET gen = gen + 1 RETURNING gen"


def _schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA main.schema_version").fetchone()[0])


# How long the checkpoint thread waits after a commit for more to come.
_CHECKPOINT_GATHER_S = 0.05
# How long truncate_wal waits for readers and writers (other processes' too) to leave the WAL.
_TRUNCATE_S = 10.0
# How long one try of it may wait: a TRUNCATE checkpoint waiting for readers holds the write lock,
# so it tries in short turns, and writes go through in between.
_TRUNCATE_TRY_MS = 100


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements inside the current transaction (``executescript`` would
    commit it first)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def broken_rules(conn: sqlite3.Connection, rules: Sequence[tuple[str, str]], noun: str) -> list[str]:
    """Run integrity rules, each ``(what, sql)`` whose SQL counts the rows breaking it and names
    one (``SELECT count(*), min(id) ...``): one line per rule broken, ``"2 <noun> <what> (e.g. <id>)"``."""
    problems = []
    for what, sql in rules:
        count, example = conn.execute(sql).fetchone()
        if count:
            problems.append(f"{count} {noun} {what} (e.g. {example})")
    return problems


_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 8, 10, 13, 14  # primary result codes
# SQLite's primary result codes of a file that cannot be written for a reason of the machine's, not
# of the write: SQLITE_READONLY (a read-only file, folder or mount), SQLITE_IOERR, SQLITE_FULL.
_REFUSED_WRITES = {_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL}


def translate_errors(exc: BaseException) -> BaseException:
    """Turn a driver error into memoryd's tree (the backend boundary). A file that refuses writes
    for the machine's reason (a full disk, a read-only file or mount, an I/O error) says so:
    ``details["refuses_writes"]``, an outage of the store, not a fault of what was written."""
    if isinstance(exc, sqlite3.Error):
        err = _translate(exc)
        if _primary_code(exc) in _REFUSED_WRITES:
            err.details["refuses_writes"] = True
        return err
    return exc


def _translate(exc: sqlite3.Error) -> StorageError:
    text = str(exc)
    if (gone := table_gone(text)) is not None:  # an index's table dropped under a running store
        return gone
    if "disk is full" in text:
        return StorageError(f"SQLite: the disk is full ({text})")
    if "vtable constructor failed: kw" in text:  # a damaged FTS5 table: the keyword index
        return StorageError(
            f"SQLite error: {text}: the keyword index is damaged; rebuild it from the records with "
            "`memoryd reindex --keywords-only`",
            field="storage.keywords",
            repair="memoryd reindex --keywords-only",
        )
    if "malformed" in text or "corrupt" in text:
        return StorageError(
            f"SQLite error: {text}; `memoryd check` finds the damage, `memoryd reindex` rebuilds "
            "the indexes from the records",
            repair="memoryd check",
        )
    return StorageError(f"SQLite error: {text}")


# Causes of a file the machine will not let memoryd write, each with its fix.
_FULL = (
    "the disk holding it is full",
    "free space on that disk, or set storage.path to a file on another disk",
)
_READ_ONLY_MOUNT = (
    "its file system is mounted read-only",
    "mount it read-write, or set storage.path to a file on a writable disk",
)
_NOT_WRITABLE = (
    "this user may not write the file or its folder",
    "let this user write the file, its folder and its -wal and -shm files (or run memoryd as their "
    "owner), or set storage.path to a file in a writable folder",
)
_LOW_SPACE_B = 1 << 20  # less free than this, and an I/O error opening the file: the disk is full


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _refusal(path: Path, exc: BaseException) -> tuple[str, str] | None:
    """``(cause, fix)`` when opening ``path`` failed because the machine refuses to write it (a
    full disk, a read-only mount, permissions), as the error's errno or SQLite's result code says,
    or, SQLite passing on no errno, as the OS tells of the file and its folder; else None."""
    if isinstance(exc, OSError):
        causes = {errno.ENOSPC: _FULL, errno.EDQUOT: _FULL, errno.EROFS: _READ_ONLY_MOUNT,
                  errno.EACCES: _NOT_WRITABLE, errno.EPERM: _NOT_WRITABLE}  # fmt: skip
        return causes.get(exc.errno or 0)
    code = _primary_code(exc)
    if code == _SQLITE_FULL:
        return _FULL
    if code not in (_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN) or not hasattr(os, "statvfs"):
        return None
    folder = next((d for d in (path.parent, *path.parent.parents) if d.is_dir()), path.parent)
    try:
        disk = os.statvfs(folder)
    except OSError:
        return None
    if disk.f_flag & os.ST_RDONLY:
        return _READ_ONLY_MOUNT
    mine = [folder, *(f for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if f.exists())]
    if not all(os.access(f, os.W_OK) for f in mine):
        return _NOT_WRITABLE
    free = disk.f_bfree if hasattr(os, "geteuid") and os.geteuid() == 0 else disk.f_bavail  # root's reserve
    if free * disk.f_frsize < _LOW_SPACE_B or (disk.f_files and not disk.f_ffree):
        return _FULL
    if code == _SQLITE_READONLY:
        return "SQLite may only read it", _NOT_WRITABLE[1]
    return None


@contextmanager
def read_together(conn: sqlite3.Connection) -> Iterator[None]:
    """The reads in the block see one state of the file (a read transaction, unless ``conn`` is
    in one already, a snapshot's): a count and the page it counts agree while others write."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")  # nothing was written: ending the read is all


def _read_on(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    try:
        return fn(conn)
    except sqlite3.Error as exc:
        raise translate_errors(exc) from exc


def private_file(path: Path) -> None:
    """Make ``path`` (an SQLite file that does not exist yet) readable by its owner only, and
    each new folder for it too (a tenant's store: ``tenants/`` and its own folder; ``mkdir``'s
    ``parents`` would give the outer ones the umask's permissions, and list tenants to anyone):
    memories (and keys) are nobody else's on a shared machine. SQLite gives its ``-wal`` and
    ``-shm`` files the database file's permissions. An existing file or folder keeps the
    permissions its owner gave it."""
    if path.exists():
        return
    for folder in reversed([d for d in (path.parent, *path.parent.parents) if not d.exists()]):
        folder.mkdir(mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return found.fetchone() is not None


def holds_rows_without(conn: sqlite3.Connection, tables: tuple[str, ...]) -> bool:
    """Whether the file holds memories while one of ``tables`` (an index's) is gone: an index
    that must be rebuilt from the records rather than recreated empty."""
    if all(has_table(conn, t) for t in tables) or not has_table(conn, "memories"):
        return False
    return conn.execute("SELECT 1 FROM memories LIMIT 1").fetchone() is not None


class SQLiteDatabase:
    """Connections and threads for one database file. Thread-safe; async API."""

    def __init__(self, path: str | Path, *, read_threads: int = 4, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self._identity = FileIdentity(self.path)  # the file opened: still the one at path?
        self._synchronous = synchronous
        self._read_threads = read_threads
        self._lock = threading.RLock()
        self._seen = 0  # the last commit generation whose changes this process's caches know of
        self._writer_id = secrets.token_hex(8)  # marks this database's commits in the change log
        self._watchers: list[Watcher] = []
        self._catching_up = threading.Lock()
        self._fresh()

    def _fresh(self) -> None:
        """The threads' and connections' state, as before the first :meth:`open`."""
        self._guard = WalGuard(self.path)  # checkpoints and commits apart, across processes
        self._local = threading.local()
        self._readers: ThreadPoolExecutor | None = None
        self._queue: queue.Queue[tuple[list[Op], list[Hook], Future[Any]] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._reader_conns: list[sqlite3.Connection] = []
        self._closed = False
        self._unhooked: set[int] = set()  # own commits whose hooks have not run yet
        self._checker: sqlite3.Connection | None = None
        self._committed = threading.Event()  # set by the writer, cleared by the checkpointer
        self._commits = 0  # by the writer thread
        self._stopping = False  # set once the writer has finished: a last checkpoint, then stop
        self._checkpointer: threading.Thread | None = None
        self._truncations: list[Future[bool]] | None = []  # asked of the checkpointer; None: it has stopped

    # -- life cycle --------------------------------------------------------
    def open(self) -> None:
        """Start the writer, the checkpointer and the readers; once closed, anew (a store whose
        opening failed, closed by its owner, can be opened again once the cause is fixed)."""
        if self._closed:
            self._fresh()
        if self._writer is not None:
            return
        try:
            private_file(self.path)
        except OSError as exc:
            message = f"cannot create the directory for storage.path {self.path}, or the file: {exc}"
            refusal = _refusal(self.path, exc)
            if refusal is None:
                raise StorageError(message, field="storage.path") from exc
            cause, fix = refusal
            raise StorageError(f"{message}: {cause}; {fix}", field="storage.path", repair=fix) from exc
        ready: Future[None] = Future()
        self._writer = threading.Thread(
            target=self._write_loop, args=(ready,), name="memoryd-sqlite-writer", daemon=True
        )
        self._writer.start()
        ready.result()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="memoryd-sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()
        self._readers = ThreadPoolExecutor(self._read_threads, thread_name_prefix="memoryd-sqlite-read")

    def check_file(self) -> None:
        """:class:`StorageError` if the file opened was deleted or replaced since (see
        :mod:`memoryd.storage.sqlite.file_identity`); closed, it is not its to tell (SQLite
        removes the WAL when the last connection closes)."""
        if self._writer is not None and not self._closed:
            self._identity.check()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
        if self._checkpointer is not None:
            self._stopping = True  # every commit is in: one last checkpoint
            self._committed.set()
            self._checkpointer.join()
        if self._readers is not None:
            self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        with self._catching_up:
            if self._checker is not None:
                self._checker.close()
                self._checker = None
        self._guard.close()

    def _open_error(self, exc: BaseException) -> BaseException:
        """A failure to open the file, naming it ("file is not a database" alone names nothing)."""
        err = translate_errors(exc)
        if not isinstance(err, StorageError):
            return err
        refusal = _refusal(self.path, exc)
        if refusal is not None:  # the machine's reason, not the file's: the fix is the machine's
            cause, fix = refusal
            said = f"{getattr(exc, 'sqlite_errorname', type(exc).__name__)}: {exc}"
            message = f"cannot open storage.path {self.path}: {cause} (SQLite said {said}); {fix}"
            return StorageError(message, field="storage.path", **{**err.details, "repair": fix})
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):  # busy for 30 s: not damage
            why = "another program holds it locked (a long transaction); try again once it ends"
        elif _primary_code(exc) == _SQLITE_IOERR:
            why = "the disk or its file system failed (the system log says more): check it before the file"
        else:
            why = "if it is not a memoryd store, move it aside or set storage.path to another file"
        message = f"cannot open storage.path {self.path}: {err.message}; {why}"
        return StorageError(message, field="storage.path", **err.details)

    def _connect(self, *, create: bool = False) -> sqlite3.Connection:
        """A connection to the store's file; only the writer's (``create``) may make the file: a
        reader, the checkpointer or the change checker opening while the file is gone (deleted
        under a running memoryd) would otherwise leave an empty store at ``storage.path``."""
        target = str(self.path) if create else f"file:{urllib.parse.quote(str(self.path))}?mode=rw"
        try:
            conn = sqlite3.connect(
                target, isolation_level=None, check_same_thread=False, timeout=30, uri=not create
            )
        except sqlite3.Error as exc:
            self._identity.check()  # the file is gone (or another): says so, naming the fix
            raise translate_errors(exc) from exc
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA mmap_size=268435456")
        conn.execute("PRAGMA secure_delete=ON")  # what a write deletes is overwritten (module docstring)
        conn.create_function("casefold", 1, _casefold, deterministic=True)
        return conn

    # -- writing -----------------------------------------------------------
    def _write_loop(self, ready: Future[None]) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect(create=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread's job
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute(_GENERATION_TABLE)
            conn.execute(changes.LOG_TABLE)
            conn.execute("INSERT OR IGNORE INTO memoryd_generation VALUES (1, 0)")
            self._seen = conn.execute("SELECT gen FROM memoryd_generation").fetchone()[0]
            changes.install(conn)
            schema = _schema_version(conn)
            self._identity.remember()  # the file and its WAL, both there now
        except BaseException as exc:  # noqa: BLE001 - reported to open()
            if conn is not None:
                conn.close()  # else its file stays open (a read-only mount stays busy)
            ready.set_exception(self._open_error(exc))
            return
        ready.set_result(None)
        while True:
            job = self._queue.get()
            if job is None:
                break
            ops, hooks, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            gen, result, failed = None, None, None
            with self._guard.held():  # no checkpoint of any process meanwhile (wal_guard)
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    if _schema_version(conn) != schema:  # tables made or remade since (here or elsewhere)
                        changes.install(conn)
                        schema = _schema_version(conn)
                    before = conn.total_changes
                    for op in ops:
                        result = op(conn)
                    if conn.total_changes != before:  # rows changed: other processes' caches must know
                        gen = conn.execute(_NEXT_GENERATION).fetchone()[0]
                        altered = _schema_version(conn) != schema  # a table dropped and rebuilt, say
                        changes.record(conn, gen, self._writer_id, everything=altered)
                        with self._catching_up:
                            self._unhooked.add(gen)
                    self._identity.check()  # a file deleted or replaced meanwhile: roll back, refuse
                    conn.execute("COMMIT")
                    self._commits += 1
                    self._committed.set()
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    schema = -1  # triggers installed in that transaction went with it: again next time
                    if gen is not None:
                        with self._catching_up:
                            self._unhooked.discard(gen)  # never written: nobody waits for it
                    failed = exc
            if failed is not None:
                fut.set_exception(translate_errors(failed))
            else:
                self._run_hooks(hooks, gen)
                fut.set_result(result)
            # Not kept while the queue is empty: a batch's rows and vectors (an import's pages).
            job = ops = hooks = fut = result = op = failed = None  # type: ignore[assignment]
        conn.close()

    def _run_hooks(self, hooks: list[Hook], gen: int | None) -> None:
        """A commit's hooks (cache refreshes), on the writer thread right after it: none is lost
        when the task that asked for the write is cancelled meanwhile, and no process's later
        write to the same rows is caught up with before them (a refresh landing after it would
        put the older rows back)."""
        try:
            for hook in hooks:
                try:
                    hook()
                except Exception:  # noqa: BLE001 - the write is committed: say so, and go on
                    _log.exception("a hook after a commit to %s failed", self.path)
        finally:
            if gen is not None:
                with self._catching_up:
                    self._unhooked.discard(gen)
                    if gen == self._seen + 1:  # nobody else committed since: nothing to read back
                        self._seen = gen

    async def write(self, op: Op, *, after_commit: Hook | None = None) -> Any:
        """Run one write, or stage it when a :meth:`transaction` is open. ``after_commit`` runs
        on the writer thread once it is committed (not at all if it fails)."""
        uow = _current.get()
        if uow is not None and uow.db is self:
            uow.ops.append(op)
            if after_commit is not None:
                uow.hooks.append(after_commit)
            return None
        return await self._submit([op], [after_commit] if after_commit is not None else [])

    async def _submit(self, ops: list[Op], hooks: list[Hook], *, steps: bool = False) -> Any:
        """Hand ``ops`` to the writer thread and wait for their commit. ``steps``: ``ops`` wait on
        :meth:`before_commit` steps (a write to another engine), which a close rolls back."""
        if self._writer is None or self._closed:
            raise StorageError("the SQLite database is not open")
        fut: Future[Any] = Future()
        self._queue.put((ops, hooks, fut))
        try:
            return await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            # Cancelled once the writer began it, a write of this file commits or fails all the
            # same: the caller hears of its cancellation only when it has ended, so that its
            # after-commit hooks have said whether it was written (not yet begun, it never runs).
            if not steps and not fut.cancelled():
                ended = asyncio.wrap_future(fut)
                await asyncio.wait([ended])
                if not ended.cancelled():
                    ended.exception()  # its outcome is the hooks' to tell: retrieved, not logged
            raise

    def before_commit(self, step: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run ``step`` (a coroutine function, on this event loop) once every write staged in the
        open :meth:`transaction` has run, just before COMMIT; its failure rolls them all back.

        For a backend outside this file (Qdrant): written only when nothing is left to fail but
        the commit itself. The writer thread waits for it; the event loop stays free."""
        uow = _current.get()
        if uow is None or uow.db is not self:
            raise RuntimeError("before_commit() needs an open transaction of this database")
        loop = asyncio.get_running_loop()

        def op(conn: sqlite3.Connection) -> None:
            running = asyncio.run_coroutine_threadsafe(step(), loop)
            deadline = time.monotonic() + _BEFORE_COMMIT_S
            while True:  # never forever: close() may be holding the very loop the step needs
                try:
                    running.result(timeout=0.05)
                    return
                except TimeoutError:
                    if self._closed or time.monotonic() > deadline:
                        running.cancel()  # and the write is rolled back: nothing lands later
                        late = f"it took over {_BEFORE_COMMIT_S:.0f} s"
                        why = "the store is closing" if self._closed else late
                        raise StorageError(f"a write was rolled back: {why}") from None

        uow.last.append(op)

    def after_commit(self, hook: Hook) -> None:
        """Run ``hook`` (quick, thread-safe) on the writer thread once the open
        :meth:`transaction` has committed (not at all if it fails)."""
        uow = _current.get()
        if uow is None or uow.db is not self:
            raise RuntimeError("after_commit() needs an open transaction of this database")
        uow.hooks.append(hook)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Stage every ``write`` made inside the block and commit them together."""
        outer = _current.get()
        if outer is not None and outer.db is self:
            yield  # already inside: join the outer unit of work
            return
        uow = _UnitOfWork(self)
        token = _current.set(uow)
        try:
            yield
        finally:
            _current.reset(token)
        if uow.ops or uow.last:
            await self._submit(uow.ops + uow.last, uow.hooks, steps=bool(uow.last))

    async def truncate_wal(self) -> bool:
        """Copy every commit into the database file and empty the WAL (truncated to zero bytes),
        so that no older version of a page stays on disk: the last step of an erasure. Waits
        for readers and writers, this process's and others', to leave the WAL, up to
        :data:`_TRUNCATE_S`; False (and a warning in the log) if they did not, and the WAL then
        keeps the older pages until it starts over."""
        fut: Future[bool] = Future()
        with self._lock:
            if self._checkpointer is None or self._closed or self._truncations is None:
                raise StorageError("the SQLite database is not open")
            self._truncations.append(fut)
        self._committed.set()  # the checkpoint thread runs it, and no other checkpoint meanwhile
        return await asyncio.wrap_future(fut)

    def _truncate(self, conn: sqlite3.Connection) -> bool:
        deadline = time.monotonic() + _TRUNCATE_S
        conn.execute(f"PRAGMA busy_timeout={_TRUNCATE_TRY_MS}")  # a try waits this long for readers
        while True:
            # busy: a reader or writer stayed (after the busy timeout), or another process was
            # checkpointing (at once: SQLite does not wait for that one)
            with self._guard.held():  # no commit of any process meanwhile (wal_guard)
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                return True
            if time.monotonic() > deadline:
                _log.warning(
                    "the WAL of %s could not be emptied (readers or writers stayed in it for %.0f s): "
                    "it keeps older versions of pages, erased content among them, until it starts over",
                    self.path, _TRUNCATE_S,
                )  # fmt: skip
                return False
            time.sleep(0.05)

    def _checkpoint_loop(self) -> None:
        """Copy committed pages back into the database file, a burst of commits at a time,
        and once more when the database closes (a short-lived process, such as one CLI
        command, leaves no WAL behind while a server keeps the file open).

        PASSIVE: it never blocks the writer or a reader, and copies what no reader still
        needs; the next round copies the rest. SQLite then starts the WAL over. When
        :meth:`truncate_wal` asks, TRUNCATE instead, at once."""
        conn: sqlite3.Connection | None = None
        done = 0  # commits checkpointed so far
        while True:
            self._committed.wait()
            if not self._stopping and not self._truncations:
                time.sleep(_CHECKPOINT_GATHER_S)  # let a burst of commits share one checkpoint
            self._committed.clear()  # close() sets it again after _stopping: no wake is lost
            with self._lock:
                asked, self._truncations = self._truncations or [], []
            stopping, commits = self._stopping, self._commits
            emptied = False
            if commits != done or asked:
                try:
                    conn = conn or self._connect()
                    if asked:
                        emptied = self._truncate(conn)
                    else:
                        with self._guard.held():  # no commit of any process meanwhile (wal_guard)
                            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    done = commits
                except (sqlite3.Error, StorageError) as exc:  # the WAL keeps every commit; retried next
                    _log.warning("SQLite checkpoint of %s failed: %s", self.path, exc)
            for fut in asked:
                fut.set_result(emptied)
            if stopping:
                break
        with self._lock:
            left, self._truncations = self._truncations or [], None
        for fut in left:
            fut.set_result(False)
        if conn is not None:
            conn.close()

    # -- writes by other processes -----------------------------------------
    def watch(self, watcher: Watcher) -> None:
        """Call ``watcher`` with what other processes changed (:class:`changes.Foreign`, or None
        for anything) and a connection to re-read rows, whenever :meth:`catch_up` finds some. A
        cache of this file's rows updates or drops those; it runs on the thread that catches up,
        so briefly, under the cache's own lock."""
        self._watchers.append(watcher)

    def catch_up(self) -> None:
        """Tell the watchers what other processes committed since the last call.

        Caches call it before they answer, so a server sees what a worker or the CLI wrote.
        Costs one primary-key read on a private connection while nothing happened, and one
        read of the change log when something did (:mod:`memoryd.storage.sqlite.changes`)."""
        with self._catching_up:
            if self._checker is None:
                self._checker = self._connect()
                self._checker.execute("PRAGMA query_only=ON")
            try:
                now = self._checker.execute("SELECT gen FROM memoryd_generation").fetchone()[0]
                if self._unhooked:  # what came after an own commit waits for its refreshes
                    now = min(now, min(self._unhooked) - 1)
                if now <= self._seen:
                    return
                changed: Changed = changes.read_since(self._checker, self._seen, now, self._writer_id)
            except sqlite3.Error as exc:
                raise translate_errors(exc) from exc
            self._seen = now
            if changed is not None and not changed.scopes:
                return  # only our own commits, or ones touching nothing cached
            for watcher in self._watchers:
                try:
                    watcher(changed, self._checker)
                except Exception as exc:  # noqa: BLE001 - a row it re-read is damaged, say
                    _log.warning("a cache of %s missed another process's write (%s): emptied", self.path, exc)
                    watcher(None, self._checker)  # it forgets all it holds; the next read says what is wrong

    # -- reading -----------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        return conn

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return _read_on(self._reader(), fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T], *, point: bool = False) -> T:
        """Run ``fn(conn)`` on a reader thread; with ``point``, here.

        ``point`` is for reads of a few rows found through a key or an index (a search's
        records by id, the hashes of one add): tens of microseconds in SQLite, less than the
        hop to a reader thread and back, which also waits for the event loop's attention
        twice (measured: ``context()`` 20% faster, its tail 25% shorter). Anything that may
        scan runs on a reader thread."""
        if self._readers is None or self._closed:
            raise StorageError("the SQLite database is not open")
        pinned = _pinned.get()
        if pinned is not None and pinned.db is self:
            return await asyncio.get_running_loop().run_in_executor(pinned.thread, _read_on, pinned.conn, fn)
        if point:
            return self._run_read(fn)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        """Every read of this database in the block (by this task and those it starts) sees the
        file as it was when the block began: one read transaction on a connection of its own
        (an export of a store others keep writing is then whole). Writes go on meanwhile; the
        WAL keeps what the snapshot still reads until the block ends."""
        if _pinned.get() is not None:
            yield
            return
        loop = asyncio.get_running_loop()
        thread = ThreadPoolExecutor(1, thread_name_prefix="memoryd-sqlite-snapshot")

        def begin() -> sqlite3.Connection:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            conn.execute("BEGIN")
            conn.execute("SELECT gen FROM memoryd_generation").fetchone()  # the snapshot starts here
            return conn

        try:
            conn = await loop.run_in_executor(thread, begin)
        except sqlite3.Error as exc:
            thread.shutdown()
            raise translate_errors(exc) from exc
        token = _pinned.set(_Snapshot(self, thread, conn))
        try:
            yield
        finally:
            _pinned.reset(token)

            def end() -> None:
                conn.rollback()
                conn.close()

            await loop.run_in_executor(thread, end)
            thread.shutdown()

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound in-memory work (index scoring) on a reader thread, off the event loop."""
        if self._readers is None or self._closed:
            raise StorageError("the SQLite database is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(*args))
