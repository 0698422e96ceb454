"""The OpenAI-compatible chat gateway: long-term memory for any app that can change its base URL.

``POST /v1/chat/completions`` takes OpenAI's request, finds the user and
session (:mod:`~memoryd.gateway.identity`), injects the memories relevant to
the last user message as fenced data (:mod:`~memoryd.gateway.inject`),
forwards the call through the ``[llm]`` tiers with fallback
(:mod:`~memoryd.gateway.routing`, :mod:`~memoryd.gateway.upstream`, one wire
module per format: OpenAI, Anthropic, Gemini), answers plain or streamed
(:mod:`~memoryd.gateway.sse`), then stores the turn in the background
(:mod:`~memoryd.gateway.writeback`) and counts usage per user
(:mod:`~memoryd.gateway.usage`). :class:`Gateway` (:mod:`~memoryd.gateway.service`)
holds the parts; :mod:`~memoryd.gateway.routes` is the HTTP side.
"""

from memoryd.gateway.service import Gateway, Prepared, server_memories, server_stores

__all__ = ["Gateway", "Prepared", "server_memories", "server_stores"]
