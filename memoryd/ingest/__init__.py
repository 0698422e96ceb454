"""Where data comes in: input validation and the ingestion modes.

``fast`` (no LLM) stores every message as an episode. ``fine`` (LLM
extraction) is reserved for a later release and fails clearly until then.
"""

from memoryd.ingest.fast import plan_fast_add
from memoryd.ingest.inputs import AddInput, normalise_add

__all__ = ["AddInput", "normalise_add", "plan_fast_add"]
