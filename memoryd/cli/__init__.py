"""The ``memoryd`` command line (``memoryd = memoryd.cli:main``).

The commands live in :mod:`memoryd.cli.app`, rendering in
:mod:`memoryd.cli.output` and the ``doctor`` checks in :mod:`memoryd.cli.doctor`.
"""

from memoryd.cli.app import app, main

__all__ = ["app", "main"]
