"""The plain data every LLM module shares: targets, requests, completions and token usage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

from memoryd.redact import mask_url

__all__ = ["ChatRequest", "Completion", "JsonMode", "Message", "Target", "Usage", "token_count"]

Message = Mapping[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

JsonMode = Literal["schema", "object", "none"]


@dataclass(frozen=True)
class Usage:
    """Tokens one or more calls consumed (what the vendor reported; 0 when it did not say)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def reported(cls, counts: object, prompt: str, completion: str) -> Usage:
        """The counts under the keys ``prompt`` and ``completion`` of a vendor's usage object, read
        leniently: a count that is missing or is no count ("n/a", negative, fractional, a
        boolean; or no usage object at all) is 0, never a reason to lose the answer it came with."""
        if not isinstance(counts, Mapping):
            return cls()
        return cls(token_count(counts.get(prompt)), token_count(counts.get(completion)))


def token_count(value: object) -> int:
    """A vendor's token count as it reported it; 0 for none, or for what is no count ("n/a", a
    negative or fractional number, a boolean): usage is counted, it never fails an answer."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else 0


@dataclass(frozen=True)
class Completion:
    """One answer: its text, the model that wrote it, the target label, usage and finish reason;
    ``refusal``: what the model said instead of answering, where the vendor says it apart
    (OpenAI's ``message.refusal``, its content then null)."""

    text: str
    model: str
    target: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    refusal: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    """What to ask, independent of any wire format.

    ``json`` asks for a JSON answer (JSON mode where the vendor has one);
    ``schema`` (a JSON schema, named ``schema_name``) lets vendors that support
    schema-constrained output use it. ``max_tokens``/``temperature`` of ``None``
    take the target's defaults.
    """

    messages: Sequence[Message]
    json: bool = False
    schema: Mapping[str, Any] | None = None
    schema_name: str = "answer"
    max_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True)
class Target:
    """One place a call can go: a vendor (provider), a model, where, and how long to wait.

    ``api_key`` never appears in ``repr`` or in :attr:`label`, nor does ``base_url``'s userinfo
    in :attr:`label`.
    """

    provider: str
    model: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    api_version: str | None = None
    timeout_s: float = 30.0
    max_tokens: int = 2048
    temperature: float = 0.0
    name: str | None = None  # unique label override (the router sets one when two targets look alike)

    def __repr__(self) -> str:  # the dataclass's (api_key left out), a password in base_url masked
        shown = (
            f"{f.name}={mask_url(self.base_url) if f.name == 'base_url' else getattr(self, f.name)!r}"
            for f in fields(self)
            if f.repr
        )
        return f"Target({', '.join(shown)})"

    @property
    def label(self) -> str:
        """``provider:model@host[:port]`` — how logs, stats and errors name this target (never
        with the URL's userinfo: ``http://user:password@host`` is labelled by ``host``)."""
        if self.name:
            return self.name
        host = (urlsplit(self.base_url).netloc or self.base_url).rpartition("@")[2]
        return f"{self.provider}:{self.model}@{host}"
