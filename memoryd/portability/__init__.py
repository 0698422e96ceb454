"""Backup and portability: a store, or one user of it, as a JSONL file and back.

:func:`export_store` and :func:`import_store` stream (pages in, lines out; lines
in, batches out); :mod:`memoryd.portability.format` defines the file. The CLI
commands live in :mod:`memoryd.cli.portability`.
"""

from memoryd.portability.export import ExportSummary, export_store
from memoryd.portability.import_ import ImportSummary, import_store

__all__ = ["ExportSummary", "ImportSummary", "export_store", "import_store"]
