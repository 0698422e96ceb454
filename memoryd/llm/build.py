"""Settings to router: :func:`build_router` turns the ``[llm]`` section into tiers of targets.

API keys missing from the settings are read from the vendor's environment
variable here, when the router is built (never at import), and only when the
target talks to the vendor's own default URL: a key for api.openai.com is
never sent to some other server because ``base_url`` was changed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

from memoryd.config import LLMConfig, Settings
from memoryd.errors import ConfigError
from memoryd.llm.providers import Vendor, vendor
from memoryd.llm.router import Router
from memoryd.llm.types import Target
from memoryd.redact import has_userinfo

if TYPE_CHECKING:
    from memoryd.llm.transport import HTTPClient

__all__ = ["api_base", "build_router", "build_targets", "make_target", "vendors_own"]

# A key sent in a header of its own (Azure's api-key, Anthropic's x-api-key, Gemini's): a
# user:password@ in base_url can go beside it, as the Authorization header (a proxy's).
_KEY_HEADERS = ("api-key", "x-api-key", "x-goog-api-key")
# What users append to an Azure resource endpoint (the portal's ".../openai/", the v1 API's base).
_AZURE_SUFFIXES = ("/openai/v1", "/openai")
# A deployment's whole URL, as the Azure portal shows it ("Target URI").
_DEPLOYMENT = re.compile(r"/openai/deployments/(?P<name>[^/]+)")


def _azure_target_uri(url: str) -> tuple[str, str | None, str | None]:
    """``(resource endpoint, deployment, api-version)`` of an Azure deployment's whole URL
    (``https://r.openai.azure.com/openai/deployments/D/chat/completions?api-version=V``; the
    endpoint keeps the rest of the query, an API gateway's ``code=``); any other URL as it is,
    with neither."""
    parts = urlsplit(url.strip())
    found = _DEPLOYMENT.search(parts.path)
    if found is None:
        return url, None, None
    query = parse_qsl(parts.query, keep_blank_values=True)
    version = next((v for k, v in query if k == "api-version"), None)
    rest = urlencode([(k, v) for k, v in query if k != "api-version"])  # a gateway's ?code=, kept
    resource = urlunsplit(parts._replace(path=parts.path[: found.start()], query=rest))
    return resource, unquote(found["name"]), version


def api_base(record: Vendor, url: str) -> str:
    """``url`` as the wire clients join paths to: without a trailing slash; a server's address
    alone (``http://localhost:11434``, the SDKs' ``https://api.anthropic.com``) completed with
    the vendor's API path (``/v1``, ``/v1beta``, OpenRouter's ``/api/v1``); an Azure resource
    endpoint without the ``/openai`` the deployments' path adds. Any other path is kept."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    if record.auth == "api-key":
        path = next((path.removesuffix(s) for s in _AZURE_SUFFIXES if path.endswith(s)), path)
    elif not path and record.base_url is not None:
        path = urlsplit(record.base_url).path.rstrip("/")
    return urlunsplit(parts._replace(path=path))


def vendors_own(record: Vendor, url: str) -> bool:
    """Whether ``url`` is on one of the vendor's own servers (the scheme, host and port of its
    default or other official URLs; no userinfo), or the vendor has none (Azure: the user's
    resource), so its key variable may go there."""
    if record.base_url is None:
        return True
    given = urlsplit(url)
    origins = {
        (u.scheme.lower(), u.netloc.lower()) for u in map(urlsplit, (record.base_url, *record.other_urls))
    }
    return (given.scheme.lower(), given.netloc.lower()) in origins


def make_target(
    config: LLMConfig,
    *,
    provider: str,
    model: str | None,
    base_url: str | None,
    api_key: SecretStr | None,
    api_version: str | None = None,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
    where: str = "llm",
) -> Target:
    """One :class:`Target`, with the vendor's defaults filled in; ConfigError when one is missing."""
    record = vendor(provider)
    if base_url and record.auth == "api-key":  # Azure: the portal's deployment URL names them all
        base_url, deployment, version = _azure_target_uri(base_url)
        model, api_version = model or deployment, api_version or version
    url = api_base(record, base_url) if base_url else record.base_url
    if not url:
        raise ConfigError(
            f"LLM provider {record.name!r} needs a base_url ({where}.base_url); {record.notes}",
            field=f"{where}.base_url",
        )
    name = model or record.default_model
    if not name:
        raise ConfigError(
            f"LLM provider {record.name!r} has no default model: set {where}.model", field=f"{where}.model"
        )
    key = api_key.get_secret_value() if api_key is not None else None
    if not key and vendors_own(record, url):
        environ = os.environ if env is None else env
        key = next((environ[var] for var in record.key_env if environ.get(var)), None)
    if key and record.auth not in _KEY_HEADERS and has_userinfo(url):
        raise ConfigError(
            f"{where}.base_url holds a user:password@ and an API key is set ({where}.api_key): both "
            "would be the request's Authorization header. Drop the user:password@ from the URL, or "
            f"unset {where}.api_key to send the URL's credentials (HTTP Basic auth) alone",
            field=f"{where}.base_url",
        )
    return Target(
        provider=record.name,
        model=name,
        base_url=url.rstrip("/"),
        api_key=key or None,
        api_version=api_version,
        timeout_s=timeout_s or config.timeout_s,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
    )


def build_targets(config: LLMConfig, env: Mapping[str, str] | None = None) -> list[list[Target]]:
    """The tiers the settings describe: ``llm.tiers``, or the one target of the section itself."""
    if not config.tiers:
        return [
            [
                make_target(
                    config,
                    provider=config.provider,
                    model=config.model,
                    base_url=config.base_url,
                    api_key=config.api_key,
                    api_version=config.api_version,
                    env=env,
                )
            ]
        ]
    return [
        [
            make_target(
                config,
                provider=t.provider,
                model=t.model,
                base_url=t.base_url,
                api_key=t.api_key,
                api_version=t.api_version,
                timeout_s=t.timeout_s,
                env=env,
                where=f"llm.tiers[{i}][{j}]",
            )
            for j, t in enumerate(tier)
        ]
        for i, tier in enumerate(config.tiers)
    ]


def build_router(
    settings: Settings, *, env: Mapping[str, str] | None = None, http: HTTPClient | None = None
) -> Router | None:
    """The router for ``settings.llm``, or ``None`` when no LLM is configured (fast mode)."""
    config = settings.llm
    if not config.configured:
        return None
    return Router(
        build_targets(config, env),
        max_attempts=config.max_attempts,
        breaker_failures=config.breaker_failures,
        breaker_cooldown_s=config.breaker_cooldown_s,
        max_wait_s=config.max_wait_s,
        http=http,
    )
