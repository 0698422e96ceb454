"""The access log never prints an API key's secret.

A key's full text can reach a request's path: ``DELETE /v1/admin/keys/<full key>`` revokes a
leaked key by its text (:func:`memoryd.auth.admin.key_id_of`), and a client may misplace a key
into a query string. uvicorn logs the path as it came; :class:`HideKeySecrets`, a filter on
its access log handler, shows such a key as ``mdk_<id>_<hidden>``: its id still names it.
"""

from __future__ import annotations

import logging
import re

from memoryd.auth.keys import PREFIX

__all__ = ["HIDDEN", "HideKeySecrets", "hide_key_secrets"]

HIDDEN = "<hidden>"
# A key's text in a path or query: the prefix, its 12 hex-digit id, then the secret (URL-safe
# base64, percent-encoded or not). The prefix's "_" may itself come percent-encoded.
_KEY = re.compile(rf"({PREFIX}(?:_|%5[Ff])[0-9a-fA-F]{{12}}(?:_|%5[Ff]))[A-Za-z0-9_\-%]+")


def hide_key_secrets(text: str) -> str:
    """``text`` with the secret of every API key in it replaced by :data:`HIDDEN`."""
    return _KEY.sub(lambda m: m.group(1) + HIDDEN, text)


class HideKeySecrets(logging.Filter):
    """Rewrites a log record's arguments (uvicorn's access log: client, method, path, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(hide_key_secrets(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = hide_key_secrets(record.msg)
        return True
