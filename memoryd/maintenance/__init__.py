"""Store maintenance: the integrity check (``memoryd check``) and index rebuilds (``memoryd reindex``).

Library functions over :class:`memoryd.Settings`; the CLI commands live in
:mod:`memoryd.cli.maintenance`.
"""

from memoryd.maintenance.check import CheckReport, Problem, check_store
from memoryd.maintenance.rebuild import IndexBuilder, Progress
from memoryd.maintenance.reindex import ReindexState, ReindexSummary, reindex_store

__all__ = [
    "CheckReport",
    "IndexBuilder",
    "Problem",
    "Progress",
    "ReindexState",
    "ReindexSummary",
    "check_store",
    "reindex_store",
]
