"""memoryd's LLM layer: vendors as data, three wire formats, a tiered router, structured output.

- :mod:`~memoryd.llm.providers`: one :class:`Vendor` record per vendor (URL, key variable, model).
- :mod:`~memoryd.llm.openai_client`, :mod:`~memoryd.llm.anthropic_client`,
  :mod:`~memoryd.llm.gemini_client`: the wire formats, sharing one
  :class:`~memoryd.llm.transport.HTTPClient` (aiohttp, imported when the first request is sent:
  see :mod:`~memoryd.llm.replies`).
- :mod:`~memoryd.llm.router`: :class:`Router`, tiers of targets with fallback, retries,
  circuit breakers and counters; :meth:`Router.run` is the generic retry loop.
- :mod:`~memoryd.llm.structured`: :func:`structured`, JSON answers validated with pydantic.
- :mod:`~memoryd.llm.build`: :func:`build_router` from the ``[llm]`` settings.
"""

from memoryd.llm.build import build_router, build_targets
from memoryd.llm.providers import VENDORS, Vendor, register_vendor, vendor
from memoryd.llm.repair import Parsed, parse_json
from memoryd.llm.router import Router
from memoryd.llm.structured import Structured, structured
from memoryd.llm.types import ChatRequest, Completion, Message, Target, Usage

__all__ = [
    "VENDORS",
    "ChatRequest",
    "Completion",
    "Message",
    "Parsed",
    "Router",
    "Structured",
    "Target",
    "Usage",
    "Vendor",
    "build_router",
    "build_targets",
    "parse_json",
    "register_vendor",
    "structured",
    "vendor",
]
