"""The error of an index whose tables are gone while the store holds memories (dropped by hand, a
restore of part of the file): the same words whether the store finds it opening, `memoryd check`
reports it, or a search or write of a running server meets it ("no such table: vectors"), with its
fix, ``memoryd reindex``."""

from __future__ import annotations

import re

from memoryd.errors import StorageError

__all__ = ["KEYWORD_TABLES", "VECTOR_TABLES", "index_gone", "table_gone"]

VECTOR_TABLES = ("vectors", "vector_meta")
KEYWORD_TABLES = ("kw", "kw_docs")
_NO_SUCH_TABLE = re.compile(r"no such table: (?:main\.)?(\w+)")


def index_gone(role: str, where: str | None = None) -> StorageError:
    """``role`` (``vectors`` or ``keywords``)'s index is gone; ``where``: the store's file, if named."""
    of = f" of {where}" if where else ""
    if role == "vectors":
        return StorageError(
            f"the vector index{of} is missing (its table is gone) while the store holds memories: "
            "rebuild it from the records with `memoryd reindex`",
            field="storage.vectors",
            repair="memoryd reindex",
        )
    return StorageError(
        f"the keyword index{of} is missing (its tables are gone) while the store holds memories: "
        "rebuild it from the records with `memoryd reindex --keywords-only`",
        field="storage.keywords",
        repair="memoryd reindex --keywords-only",
    )


def table_gone(text: str) -> StorageError | None:
    """The error of SQLite's ``text`` when it says an index's table is gone; else None."""
    found = _NO_SUCH_TABLE.search(text)
    if found is None:
        return None
    if found.group(1) in VECTOR_TABLES:
        return index_gone("vectors")
    if found.group(1) in KEYWORD_TABLES:
        return index_gone("keywords")
    return None
