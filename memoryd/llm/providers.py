"""LLM vendors as data: one small record per vendor, keyed by the ``llm.provider`` name.

A vendor is its wire format (``openai`` chat completions, ``anthropic``
Messages, ``gemini`` generateContent), its default base URL, the environment
variable its API key usually lives in, a default model, and what JSON mode it
understands. Every OpenAI-compatible service is a record here, not a class;
:func:`register_vendor` adds one at run time (plugins, tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from memoryd.errors import ConfigError
from memoryd.llm.types import JsonMode

__all__ = ["ALIASES", "VENDORS", "Vendor", "WireFormat", "register_vendor", "vendor", "vendor_names"]

WireFormat = Literal["openai", "anthropic", "gemini"]


@dataclass(frozen=True)
class Vendor:
    """What memoryd needs to know to talk to one LLM vendor."""

    name: str
    wire: WireFormat
    base_url: str | None  # None: the user must give one (Azure resource, custom server)
    key_env: tuple[str, ...] = ()  # environment variables tried, in order, when no api_key is set
    default_model: str | None = None  # None: llm.model is required
    json_mode: JsonMode = "object"  # best JSON mode it supports: schema > object > none
    auth: Literal["bearer", "api-key", "x-api-key", "x-goog-api-key", "none"] = "bearer"
    max_tokens_field: str = "max_tokens"  # the body field capping the answer, at the vendor's own URL
    default_api_version: str | None = None
    notes: str = ""
    other_urls: tuple[str, ...] = ()  # its other official endpoints (a region's): key_env goes there too


VENDORS: dict[str, Vendor] = {}
ALIASES = {"qwen": "dashscope", "kimi": "moonshot", "google": "gemini", "azure-openai": "azure"}


def register_vendor(record: Vendor) -> None:
    """Add or replace a vendor record."""
    VENDORS[record.name] = record


def vendor_names() -> list[str]:
    return sorted(VENDORS)


def vendor(name: str) -> Vendor:
    """The record for ``name`` (or one of its aliases); a ConfigError naming the allowed ones."""
    key = ALIASES.get(name.lower(), name.lower())
    try:
        return VENDORS[key]
    except KeyError:
        allowed = ", ".join([*vendor_names(), *sorted(ALIASES)])
        raise ConfigError(
            f"unknown LLM provider {name!r}; allowed: {allowed}", field="llm.provider"
        ) from None


for _record in (
    Vendor(
        "openai",
        "openai",
        "https://api.openai.com/v1",
        ("OPENAI_API_KEY",),
        "gpt-4o-mini",
        json_mode="schema",
        max_tokens_field="max_completion_tokens",
        notes="OpenAI platform. With another base_url, set api_key explicitly (OPENAI_API_KEY is "
        "only sent to api.openai.com).",
    ),
    Vendor(
        "azure",
        "openai",
        None,
        ("AZURE_OPENAI_API_KEY",),
        None,
        json_mode="schema",
        auth="api-key",
        default_api_version="2024-10-21",
        notes="Azure OpenAI: base_url is the resource endpoint (https://NAME.openai.azure.com), model "
        "the deployment name; calls {base_url}/openai/deployments/{model}/chat/completions?api-version=.",
    ),
    Vendor("deepseek", "openai", "https://api.deepseek.com/v1", ("DEEPSEEK_API_KEY",), "deepseek-chat"),
    Vendor(
        "openrouter",
        "openai",
        "https://openrouter.ai/api/v1",
        ("OPENROUTER_API_KEY",),
        "openai/gpt-4o-mini",
        notes="Models are named vendor/model.",
    ),
    Vendor(
        "ollama",
        "openai",
        "http://localhost:11434/v1",
        (),
        "llama3.2",
        json_mode="schema",
        auth="none",
        notes="Local; no key. Pull the model first: ollama pull llama3.2",
    ),
    Vendor(
        "vllm",
        "openai",
        "http://localhost:8000/v1",
        (),
        None,
        json_mode="schema",
        notes="model is the name vllm serves (--served-model-name); api_key only if started with --api-key.",
    ),
    Vendor(
        "lmstudio",
        "openai",
        "http://localhost:1234/v1",
        (),
        None,
        json_mode="schema",
        auth="none",
        notes="LM Studio's local server; model is the identifier it shows.",
    ),
    Vendor(
        "dashscope",
        "openai",
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        ("DASHSCOPE_API_KEY",),
        "qwen-plus",
        notes="Alibaba Cloud Model Studio (Qwen); outside China use "
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1.",
        other_urls=("https://dashscope-intl.aliyuncs.com/compatible-mode/v1",),
    ),
    Vendor(
        "moonshot",
        "openai",
        "https://api.moonshot.cn/v1",
        ("MOONSHOT_API_KEY",),
        "moonshot-v1-8k",
        notes="Kimi; the global platform is https://api.moonshot.ai/v1 (keys are not interchangeable).",
        other_urls=("https://api.moonshot.ai/v1",),
    ),
    Vendor(
        "anthropic",
        "anthropic",
        "https://api.anthropic.com/v1",
        ("ANTHROPIC_API_KEY",),
        "claude-haiku-4-5",
        json_mode="none",
        auth="x-api-key",
        default_api_version="2023-06-01",
        notes="Messages API; api_version is the anthropic-version header.",
    ),
    Vendor(
        "gemini",
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        "gemini-2.5-flash",
        json_mode="object",
        auth="x-goog-api-key",
        notes="Google AI Studio key; JSON via responseMimeType.",
    ),
    Vendor(
        "custom",
        "openai",
        None,
        (),
        None,
        notes="Any OpenAI-compatible server: set base_url (ending in /v1), model and, if needed, api_key.",
    ),
):
    register_vendor(_record)
