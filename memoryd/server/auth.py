"""Authentication for every route: who is calling, and may they.

:class:`AuthMiddleware` runs before routing, so a route added later is protected
without doing anything. For each request it finds the API key
(``Authorization: Bearer <key>``, or mem0's ``Authorization: Token <key>``; or
``X-API-Key: <key>``, as mem0's server takes it, when it holds a memoryd key: :func:`presented_key`),
checks it against the key store, applies the key's rate limit, and leaves the
caller as ``request.state.principal`` (:class:`memoryd.auth.Principal`). The
memory a route receives (:func:`memoryd.server.health.get_memory`) is the
caller's tenant's store, restricted to its user for a ``user`` key.

Authentication is required as soon as any key has been created (revoked ones count), when the server binds to
anything but loopback, or with ``auth.required = "always"``. Otherwise (loopback,
no keys) every caller is an anonymous admin of the default tenant, and an
``Authorization`` header that is not a memoryd key (``mdk_…``) is ignored (the
OpenAI SDK always sends its ``api_key``); the server says so at start-up.
Probes and docs (``/health``, ``/metrics``, ``/docs``, ``/openapi.json``) never
need a key (``/health`` keeps its figures for admin keys then).

An admin key picks the tenant per request with ``X-Memoryd-Tenant``; for other
keys that header may only name their own tenant (any other answers 404, like a
tenant that does not exist).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from memoryd.auth.keys import PREFIX, ApiKey, KeyStore, parse_key
from memoryd.auth.principal import ANONYMOUS, Principal, check_tenant
from memoryd.auth.ratelimit import RateLimiter, take_all
from memoryd.config import TENANT_HEADER, Settings
from memoryd.errors import (
    AuthenticationError,
    BackendUnavailableError,
    InvalidInputError,
    MemorydError,
    NotFoundError,
    PermissionDeniedError,
)
from memoryd.server.errors import memoryd_error_response

__all__ = [
    "API_KEY_HEADER",
    "OPEN_PATHS",
    "OPEN_PREFIX",
    "TENANT_HEADER",
    "AuthMiddleware",
    "Authenticator",
    "Local",
    "hostname_of",
    "is_loopback",
    "presented_key",
]

log = logging.getLogger("memoryd.server")

OPEN_PATHS = frozenset(
    {"/health", "/health/live", "/health/ready", "/metrics"}
    | {"/docs", "/docs/oauth2-redirect", "/openapi.json"}
)
OPEN_PREFIX = "/docs/files/"  # the docs page's script and style sheet
# How long a key, and the key counts, are trusted when the key store's files look unchanged
# (:meth:`Authenticator.refresh`: a change another process makes is seen at the next request).
KEY_CACHE_S = 2.0
COUNT_CACHE_S = 1.0


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """A loopback address or name: ``localhost`` and its subdomains (RFC 6761), with or without the
    root's dot, 127.0.0.0/8, ``::1``, and 127.x as an IPv6 listener sees it (``::ffff:127.0.0.1``)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


@dataclass(slots=True)
class _Cached:
    key: ApiKey | None
    at: float


class Authenticator:
    """Checks keys against ``store``, with short caches so a request rarely touches disk."""

    def __init__(self, settings: Settings, store: KeyStore, *, host: str) -> None:
        self.settings = settings
        self.store = store
        self.host = host
        auth = settings.auth
        self.limiter = RateLimiter(auth.rate_limit_per_s, auth.rate_limit_burst)
        self.tenant_limiter = RateLimiter(
            auth.tenant_rate_limit_per_s, auth.tenant_rate_limit_burst, subject="this API key's tenant"
        )
        self._keys: dict[str, _Cached] = {}
        self._count: tuple[tuple[int, int], float] = ((0, 0), -COUNT_CACHE_S)
        path = settings.keys_path()
        self._files = (path, path.with_name(f"{path.name}-wal"))  # a commit writes one of them
        self._stamp = self._store_stamp()

    def _store_stamp(self) -> tuple[tuple[int, int, int] | None, ...]:
        return tuple(_file_stamp(path) for path in self._files)

    def refresh(self) -> None:
        """Drop the cached keys and counts when the key store's files changed since the last
        request: a key another process (``memoryd keys revoke``, another server's admin API)
        revoked stops working at once, and the first key it creates closes an open server at once
        (both waited for the caches to expire: up to two seconds for a leaked key). A change this
        cannot see (two commits within one tick of the file system's clock, the size unchanged)
        still waits for them."""
        stamp = self._store_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            self.forget()

    def take(self, principal: Principal, count: int = 1) -> None:
        """Spend ``count`` requests of the key's rate limit and of its tenant's (admin keys, which
        act in any tenant, have none), or raise :class:`RateLimitedError` (429)."""
        if principal.key_id is None:
            return
        charges = [(self.limiter, principal.key_id)]
        if not principal.is_admin:
            charges.append((self.tenant_limiter, principal.tenant))
        take_all(charges, count)  # both or neither: a refused request costs the key nothing

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    async def _counts(self) -> tuple[int, int]:
        """(active keys, keys ever created), read at most once every ``COUNT_CACHE_S``."""
        counts, at = self._count
        now = time.monotonic()
        if now - at >= COUNT_CACHE_S:
            stamp = self._stamp
            counts = await asyncio.to_thread(self._read_counts)
            if stamp == self._stamp:  # else read across a change: maybe before it, not to be kept
                self._count = (counts, now)
        return counts

    def _read_counts(self) -> tuple[int, int]:
        return self.store.count(), self.store.count(include_revoked=True)

    async def active_keys(self) -> int:
        return (await self._counts())[0]

    async def created_keys(self) -> int:
        """Keys ever created, revoked ones included."""
        return (await self._counts())[1]

    async def required(self) -> bool:
        """Keys are required off loopback, with ``auth.required = "always"``, and once any key
        has been created: revoking the last one (say, because it leaked) never reopens the server."""
        if self.settings.auth.required == "always" or not self.loopback:
            return True
        return (await self._counts())[1] > 0

    def forget(self, key_id: str | None = None) -> None:
        """Drop cached keys (one, or all) after a change made in this process."""
        if key_id is None:
            self._keys.clear()
        else:
            self._keys.pop(key_id, None)
        self._count = ((0, 0), -COUNT_CACHE_S)

    async def _lookup(self, key_id: str) -> ApiKey | None:
        now = time.monotonic()
        cached = self._keys.get(key_id)
        if cached is None or now - cached.at >= KEY_CACHE_S:
            if len(self._keys) > 10_000:
                self._keys.clear()
            stamp = self._stamp
            cached = _Cached(await asyncio.to_thread(self.store.get, key_id), now)
            if stamp == self._stamp:  # as in _counts: a read across a change is not kept
                self._keys[key_id] = cached
        return cached.key

    async def principal(
        self, authorization: str | None, tenant: str | None, request: Local | None = None
    ) -> Principal:
        """The caller of a request with these headers, or an :class:`MemorydError` to answer.
        ``request``: where it came from, for the open mode's checks (:class:`Local`)."""
        self.refresh()
        if not await self.required() and not _memoryd_key(authorization):
            # Open (loopback, no keys): a header that is not a memoryd key is ignored, so a client
            # that always sends one (the OpenAI SDK sends its api_key) works by changing base_url only.
            if request is not None:
                request.check()
            principal = ANONYMOUS
        elif authorization is None:
            raise AuthenticationError(
                "an API key is required: send 'Authorization: Bearer <key>' "
                "(`memoryd keys create --role service` makes one)"
            )
        else:
            scheme, _, token = authorization.strip().partition(" ")
            if "," in token:  # no key holds one: two Authorization headers, or an X-API-Key next to
                # another key, combined (see _headers, presented_key)
                raise AuthenticationError(
                    "send one Authorization header, and no X-API-Key naming another key: this request "
                    "names two different keys, and which one it is made with cannot be told"
                )
            if scheme.lower() not in ("bearer", "token") or not token.strip():
                raise AuthenticationError(
                    "the Authorization header must read 'Bearer <key>' or 'Token <key>'"
                )
            key_id, secret = parse_key(token)
            key = await self._lookup(key_id)
            if key is None or not key.active or not key.matches(secret):
                raise AuthenticationError("the API key is unknown or revoked")
            principal = key.principal()
            self.take(principal)
        if tenant is None:
            return principal
        try:
            name = check_tenant(tenant.strip(), "X-Memoryd-Tenant")
        except InvalidInputError:
            if principal.is_admin:
                raise
            raise NotFoundError("no such tenant", field="X-Memoryd-Tenant") from None
        if principal.is_admin:
            return principal.in_tenant(name)
        if name != principal.tenant:
            raise NotFoundError("no such tenant", field="X-Memoryd-Tenant")
        return principal


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """Which file ``path`` is, its size and its last change (None: no file); a stat, no read."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


@dataclass(frozen=True, slots=True)
class Local:
    """Where a request came from, as far as the open mode (no key: every caller an admin) cares.

    The open mode is for this machine's own programs. The configured host says where the
    server listens, but a server started some other way (``uvicorn --factory --host 0.0.0.0``)
    may listen elsewhere: each request must also have come over loopback (both ends of its
    connection). And a web page this machine's browser shows is no local program: a request
    naming a foreign ``Origin`` (a page of another site; a form or ``fetch`` cannot hide it),
    or a ``Host`` that is not a loopback name (DNS rebinding: a site's name resolved to
    127.0.0.1), is refused."""

    peer: str | None  # the client's address (None: not over IP, e.g. a Unix socket)
    local: str | None  # the address it reached (None: not over IP)
    host: str | None  # the Host header
    origin: str | None  # the Origin header

    @classmethod
    def of(cls, scope: Scope, headers: Mapping[str, str], twice: Mapping[str, str] | None = None) -> Local:
        """From an ASGI scope and its headers (keys lower-case, or a case-insensitive mapping);
        ``twice``: those sent more than once with different values, combined (``a, b``), which
        no single Host or Origin holds: refused, never read as their first or last line."""
        client, server = scope.get("client"), scope.get("server")
        twice = twice or {}
        return cls(
            client[0] if client else None,
            server[0] if server and server[1] is not None else None,
            twice.get("host", headers.get("host")),
            twice.get("origin", headers.get("origin")),
        )

    def check(self) -> None:
        for address in (self.peer, self.local):
            if address is not None and not is_loopback(address):
                raise AuthenticationError(
                    f"an API key is required: this request came over {address}, not loopback, and a "
                    "server without keys serves only its own machine (`memoryd keys create --role "
                    "admin` makes one)"
                )
        for name, value in (("Host", self.host), ("Origin", self.origin)):
            if value is not None and "," in value:  # two lines, combined: a proxy's and a page's?
                raise PermissionDeniedError(
                    f"refused: the request names more than one {name} ({value!r}); a server without "
                    "API keys answers only requests that name one, of this machine",
                    field=name,
                )
        host = hostname_of(f"//{self.host}") if self.host is not None else None
        # 0.0.0.0: the address uvicorn prints for a server on every address (a page of another
        # site that reaches it that way still names its own Origin, refused below)
        if self.host is not None and not (is_loopback(host or "") or host == "0.0.0.0"):
            raise PermissionDeniedError(
                f"refused: the Host {self.host!r} is not a loopback name, and a server without API keys "
                "answers only requests to localhost (a web site's name pointing here is one way to reach "
                "it from a browser); use http://127.0.0.1 or create a key",
                field="Host",
            )
        # "null": a sandboxed frame or a file, which any site can make
        if self.origin is not None and not is_loopback(hostname_of(self.origin) or ""):
            raise PermissionDeniedError(
                f"refused: a request from a web page at {self.origin!r}; a server without API keys "
                "answers only this machine's programs and pages (create a key to serve others)",
                field="Origin",
            )


def hostname_of(url: str) -> str | None:
    """The host a URL (or an Origin) names; None when it names none."""
    try:
        return urlsplit(url).hostname
    except ValueError:  # "http://[": no host at all
        return None


def _memoryd_key(authorization: str | None) -> bool:
    """Whether the header carries something meant as a memoryd key (checked even when open)."""
    if authorization is None:
        return False
    _, _, token = authorization.strip().partition(" ")
    return token.strip().startswith(f"{PREFIX}_")


API_KEY_HEADER = "x-api-key"


def presented_key(headers: dict[str, str], twice: dict[str, str]) -> str | None:
    """The key a request presents, as an ``Authorization`` value: that header (two different lines
    joined, which is refused), else ``X-API-Key`` (mem0's server's header) as ``Bearer``. An
    ``X-API-Key`` that is not a memoryd key (another service's, which a client may send along) is
    not read; one that names another memoryd key than ``Authorization`` joins it, so the two are
    refused, as two ``Authorization`` lines are."""
    authorization = twice.get("authorization", headers.get("authorization"))
    raw = twice.get(API_KEY_HEADER, headers.get(API_KEY_HEADER))
    if raw is None or not _memoryd_key(f"Bearer {raw}"):
        return authorization
    key = raw.strip()
    if authorization is None:
        return f"Bearer {key}"
    same = authorization.strip().partition(" ")[2].strip() == key
    return authorization if same else f"{authorization}, {key}"


def _headers(scope: Scope) -> tuple[dict[str, str], dict[str, str]]:
    """A request's headers (names lower-case), and those of them sent more than once with
    different values, each as HTTP combines repeated lines (``a, b``). A proxy may add its own
    ``Authorization`` or ``X-Memoryd-Tenant`` next to the client's, and the last line (one
    client's, or another's) must not silently decide which key, or which tenant, a request is
    made with: two keys are refused (:meth:`Authenticator.principal`), two tenants are no tenant's
    name (422 for an admin key, 404 for others)."""
    headers: dict[str, str] = {}
    twice: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name in headers and headers[name] != value:
            twice[name] = f"{twice.get(name, headers[name])}, {value}"
        headers[name] = value
    return headers, twice


class AuthMiddleware:
    """Sets ``request.state.principal`` on every HTTP request, or answers 401/404/429 (503 while the
    key store is not open: starting or stopping)."""

    def __init__(self, app: ASGIApp, get_auth: Callable[[], Authenticator | None]) -> None:
        self.app = app
        self.get_auth = get_auth  # None until the lifespan has opened the key store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIX):
            await self.app(scope, receive, send)
            return
        auth = self.get_auth()
        if auth is None:  # starting or stopping: no key can be checked, so nothing is served (a route
            # that needs no store, GET /v1/models, answered anyone)
            unavailable = BackendUnavailableError("memoryd is starting or shutting down; retry shortly")
            await memoryd_error_response(unavailable, path)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        headers, twice = _headers(scope)
        try:
            principal = await auth.principal(
                presented_key(headers, twice),
                twice.get(TENANT_HEADER, headers.get(TENANT_HEADER)),
                Local.of(scope, headers, twice),
            )
            state["principal"] = principal
        except MemorydError as exc:
            await memoryd_error_response(exc, path, scope=scope)(scope, receive, send)
            return
        await self.app(scope, receive, send)
