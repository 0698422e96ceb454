"""The memory context handed to an application for its next prompt: builder and token counts."""

from __future__ import annotations

from memoryd.context.builder import Candidate, Context, ContextItem, build_context
from memoryd.context.tokens import TOKENIZER_NAME, count_tokens

__all__ = ["TOKENIZER_NAME", "Candidate", "Context", "ContextItem", "build_context", "count_tokens"]
