"""A configured base_url as users write it: the URL each vendor is sent, and whose key goes there."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from memoryd.config import load_settings
from memoryd.llm import (
    VENDORS,
    ChatRequest,
    Router,
    Target,
    Vendor,
    anthropic_client,
    build_router,
    gemini_client,
    openai_client,
    register_vendor,
    vendor,
)
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.llm.conftest import KEY

ASK = ChatRequest([{"role": "user", "content": "hi"}])


def _target(provider: str, base_url: str, env: dict[str, str] | None = None, model: str = "m") -> Target:
    settings = load_settings(
        env={"MEMORYD_LLM_PROVIDER": provider, "MEMORYD_LLM_BASE_URL": base_url, "MEMORYD_LLM_MODEL": model}
    )
    router = build_router(settings, env=env or {})
    assert router is not None
    return router.targets[0]


def _url(t: Target) -> str:
    wire = vendor(t.provider).wire
    if wire == "anthropic":
        return anthropic_client.build_request(t, ASK)[0]
    if wire == "gemini":
        return gemini_client.build_request(t, ASK)[0]
    return openai_client.build_request(t, ASK)[0]


@pytest.mark.parametrize(
    ("provider", "base_url", "sent_to"),
    [
        # A server's address alone (OLLAMA_HOST, the vendors' SDK base URLs): the vendor's API path.
        ("ollama", "http://localhost:11434", "http://localhost:11434/v1/chat/completions"),
        ("ollama", "http://gpu-box:11434/", "http://gpu-box:11434/v1/chat/completions"),
        ("vllm", "http://gpu-box:8000", "http://gpu-box:8000/v1/chat/completions"),
        ("openrouter", "https://openrouter.ai", "https://openrouter.ai/api/v1/chat/completions"),
        ("anthropic", "https://api.anthropic.com", "https://api.anthropic.com/v1/messages"),
        ("anthropic", "http://litellm:4000/", "http://litellm:4000/v1/messages"),
        (
            "gemini",
            "https://generativelanguage.googleapis.com",
            "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent",
        ),
        # Azure: the resource endpoint, also as the portal's ".../openai" and the v1 API's ".../openai/v1".
        (
            "azure",
            "https://r.openai.azure.com/openai",
            "https://r.openai.azure.com/openai/deployments/m/chat/completions",
        ),
        (
            "azure",
            "https://r.openai.azure.com/openai/v1/",
            "https://r.openai.azure.com/openai/deployments/m/chat/completions",
        ),
        # A URL with a path is the user's: kept as written.
        ("ollama", "http://proxy/ollama/v1", "http://proxy/ollama/v1/chat/completions"),
        ("anthropic", "https://api.anthropic.com/v1/", "https://api.anthropic.com/v1/messages"),
        (
            "gemini",
            "https://aiplatform.googleapis.com/v1/publishers/google",
            "https://aiplatform.googleapis.com/v1/publishers/google/models/m:generateContent",
        ),
        ("custom", "http://my-llm:8080", "http://my-llm:8080/chat/completions"),  # no path known to add
    ],
)
def test_each_vendor_is_sent_to_its_api_path_however_the_base_url_is_written(
    provider: str, base_url: str, sent_to: str
) -> None:
    assert _url(_target(provider, base_url)) == sent_to


@pytest.mark.parametrize(
    ("provider", "base_url", "variable"),
    [
        ("deepseek", "https://api.deepseek.com", "DEEPSEEK_API_KEY"),  # DeepSeek's documented base URL
        ("gemini", "https://generativelanguage.googleapis.com/v1", "GEMINI_API_KEY"),  # the stable API
        ("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),  # the SDK's base URL
        ("openai", "https://API.openai.com/v1/", "OPENAI_API_KEY"),
    ],
)
def test_the_vendors_variable_is_used_at_any_path_of_the_vendors_own_host(
    provider: str, base_url: str, variable: str
) -> None:
    assert _target(provider, base_url, env={variable: KEY}).api_key == KEY


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.openai.com/v1",  # not over TLS
        "https://api.openai.com.evil.example/v1",
        "https://api.openai.com:8443/v1",
        "https://user@api.openai.com/v1",
    ],
)
def test_the_vendors_variable_goes_nowhere_else(base_url: str) -> None:
    assert _target("openai", base_url, env={"OPENAI_API_KEY": KEY}).api_key is None


@pytest.fixture
def hosted_vendor(fake_llm: Script) -> Iterator[str]:
    """An Anthropic-wire vendor whose API lives at the fake server's ``/r/default/v1``."""
    register_vendor(
        Vendor("fakevendor", "anthropic", fake_llm.base_url, ("FAKEVENDOR_KEY",), "m", "none", "x-api-key")
    )
    try:
        yield "fakevendor"
    finally:
        VENDORS.pop("fakevendor", None)


async def test_a_host_only_base_url_reaches_the_vendors_api_with_its_key(
    hosted_vendor: str, fake_llm: Script, fake_llm_server: FakeLLMServer, make_router: Callable[..., Router]
) -> None:
    fake_llm.reply_text("hello")
    t = _target(hosted_vendor, fake_llm_server.root + "/", env={"FAKEVENDOR_KEY": KEY})
    router = make_router([[t]])
    out = await router.complete([{"role": "user", "content": "hi"}])
    assert out.text == "hello"
    assert fake_llm.last.path == "v1/messages" and fake_llm.last.headers["x-api-key"] == KEY


@pytest.mark.parametrize(
    ("provider", "base_url", "variable"),
    [  # the README's other official endpoints of a vendor, beside its default one
        ("dashscope", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY"),
        ("moonshot", "https://api.moonshot.ai/v1", "MOONSHOT_API_KEY"),
    ],
)
def test_the_vendors_variable_is_used_at_its_other_official_endpoints(
    provider: str, base_url: str, variable: str
) -> None:
    t = _target(provider, base_url, env={variable: KEY})
    assert t.api_key == KEY and t.base_url == base_url


async def test_an_azure_deployments_whole_url_is_read_as_its_resource_deployment_and_version(
    fake_llm: Script, make_router: Callable[..., Router]
) -> None:
    """The Azure portal shows a deployment's "Target URI"; pasted as base_url, it is understood."""
    fake_llm.reply_text("hi")
    uri = (
        f"{fake_llm.azure_url}/openai/deployments/gpt-4o-prod/chat/completions?api-version=2025-01-01-preview"
    )
    t = _target("azure", uri, env={"AZURE_OPENAI_API_KEY": KEY}, model="")
    assert (t.base_url, t.model, t.api_version) == (fake_llm.azure_url, "gpt-4o-prod", "2025-01-01-preview")
    router = make_router([[t]])
    assert (await router.complete([{"role": "user", "content": "hi"}])).text == "hi"
    sent = fake_llm.last
    assert sent.path == "openai/deployments/gpt-4o-prod/chat/completions"
    assert sent.query == {"api-version": "2025-01-01-preview"} and sent.headers["api-key"] == KEY
    # Settings said apart win over the URL's.
    t = _target("azure", uri, model="other")
    assert (t.model, t.api_version) == ("other", "2025-01-01-preview")
