"""How messages name the Redis of ``pipeline.redis_url`` (never its credentials), and what of it
redis-py would misread."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["check_db", "db_refused", "display_url", "refused_db", "url_fault"]

# What Redis answers a SELECT of a database it does not have (at or past its ``databases``).
NO_SUCH_DB = "DB index is out of range"


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


def db_refused(exc: BaseException) -> bool:
    """Whether ``exc`` (a driver error, or the StorageError the queue made of one) is Redis refusing
    the database ``pipeline.redis_url`` names: a configuration error, which no wait mends."""
    return any(
        type(e).__name__ == "ResponseError" and NO_SUCH_DB in str(e) for e in (exc, exc.__cause__) if e
    )


def refused_db(where: str, db: object, doing: str) -> str:
    """What the queue says when Redis has no database ``db`` (``where``: :func:`display_url`)."""
    return (
        f"Redis at {where} has no database {db} ({NO_SUCH_DB}) trying to {doing}: a configuration error, "
        "not an outage; set pipeline.redis_url's database to one Redis has (0 to its `databases` "
        "setting less one: 0-15 by default)"
    )


def url_fault(url: str) -> str:
    """What makes ``url`` no Redis URL, for the error that refuses it ("" when it cannot tell): its
    scheme, port or database, never a piece of its credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if not parts.scheme:
        return "it has no scheme"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return f"its scheme {parts.scheme[:20]!r} is none of redis, rediss and unix"
    try:
        parts.port  # noqa: B018 - urlsplit parses the port only when asked
    except ValueError:
        return "its port is not a number from 0 to 65535"
    db = unquote(parts.path).replace("/", "")
    if parts.scheme != "unix" and db and not db.isdecimal():
        return f"its database {db[:20]!r} is not a number"
    return ""
