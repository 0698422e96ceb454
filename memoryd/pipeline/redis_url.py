"""How messages name the Redis of ``pipeline.redis_url`` (never its credentials), and what of it
redis-py would misread."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["check_db", "display_url"]


def display_url(url: str) -> str:
    """``host:port/db`` of a Redis URL, without its credentials; a ``unix://`` URL's socket path
    (``/run/redis.sock``, ``/run/redis.sock (db 2)``: never its query, which may hold a password)."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            db = parse_qs(parts.query).get("db", [""])[0]
            path = unquote(parts.path) or "?"
            return f"{path} (db {int(db)})" if db.isdecimal() and int(db) else path
        return f"{parts.hostname or '?'}:{parts.port or 6379}{parts.path or ''}"
    except ValueError:
        return "(malformed URL)"


def check_db(url: str) -> None:
    """ValueError for a ``/db`` that is no number ("/l" for "/1"): redis-py would use database 0."""
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss") and (db := unquote(parts.path).replace("/", "")):
        int(db)
