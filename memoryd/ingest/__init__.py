"""Where data comes in: input validation and the ingestion modes.

``fast`` (no LLM) stores every message as an episode. ``fine`` (an LLM is
configured) also stores every message as an episode, then extracts facts,
preferences and relations and reconciles them with what is already known.
"""

from memoryd.ingest.fast import plan_fast_add
from memoryd.ingest.inputs import MAX_OFFSET, MAX_TOKEN_BUDGET, AddInput, normalise_add

__all__ = ["MAX_OFFSET", "MAX_TOKEN_BUDGET", "AddInput", "normalise_add", "plan_fast_add"]
