"""What ``memoryd doctor`` says to check when an embeddings server or an LLM refuses the API key
(401, 403): the key setting, and the vendor's key variable that went with the request, or that none
did. A vendor's variable (``OPENAI_API_KEY``, ``DASHSCOPE_API_KEY``, ``AZURE_OPENAI_API_KEY``, ...)
is sent only to that vendor's own servers (:func:`memoryd.llm.build.vendors_own`); the hint reads
the URL as the embedder and the LLM layer do, so it names the variable actually sent there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from memoryd.errors import MemorydError
from memoryd.llm.build import vendors_own
from memoryd.llm.providers import vendor
from memoryd.redact import mask_url

if TYPE_CHECKING:
    from memoryd.config import EmbedderConfig

__all__ = ["embedder_key_fix", "llm_key_fix"]


def _key_fix(setting: str, from_setting: bool, asked: Sequence[str], env: Mapping[str, str], url: str) -> str:
    if from_setting:  # the setting's key went: no variable was read
        return f"check the API key: {setting}"
    sent = next((v for v in asked if env.get(v)), None)
    if sent is not None:
        return f"check the API key: ${sent} (the key sent to {mask_url(url)}) or {setting}"
    if asked:
        return f"check the API key: {setting} or {' or '.join(f'${v}' for v in asked)}; none is set"
    return f"check the API key: {setting}; none is set (no vendor's key variable is sent to {mask_url(url)})"


class _Asked(Mapping[str, str]):
    """``env``, noting each variable looked up in it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.names: list[str] = []

    def __getitem__(self, name: str) -> str:
        self.names.append(name)
        return self.env[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


def embedder_key_fix(cfg: EmbedderConfig, env: Mapping[str, str]) -> str:
    """The fix of an embeddings server refusing the key: the openai embedder, made again without a
    key (no call: ``dim`` given), says which variables it reads for ``embedder.base_url``."""
    from memoryd.embedders.openai import DEFAULT_BASE_URL, OpenAIEmbedder

    setting = "embedder.api_key (MEMORYD_EMBEDDER__API_KEY)"
    key = cfg.api_key.get_secret_value().strip() if cfg.api_key is not None else ""
    asked, url = _Asked(env), cfg.base_url or DEFAULT_BASE_URL
    if not key:
        try:
            made = OpenAIEmbedder(model=cfg.model or "m", base_url=cfg.base_url, dim=1, env=asked)
        except MemorydError:  # a variable's key that no header can carry: the variables read are known
            pass
        else:
            url = made.base_url
            made.close()
    return _key_fix(setting, bool(key), list(dict.fromkeys(asked.names)), env, url)


def llm_key_fix(target: Any, env: Mapping[str, str]) -> str:
    """The fix of an LLM refusing the key of ``target`` (a built :class:`memoryd.llm.Target`)."""
    record = vendor(target.provider)
    asked = record.key_env if vendors_own(record, target.base_url) else ()
    from_env = {env[v] for v in asked if env.get(v)}
    from_setting = bool(target.api_key) and target.api_key not in from_env
    return _key_fix("llm.api_key (MEMORYD_LLM_API_KEY)", from_setting, asked, env, target.base_url)
