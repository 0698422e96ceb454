"""How messages say a count, in every layer alike (the CLI, the pipeline's health, the store's
refusals, the LLM router's errors): "1 memory", "3 memories", never "1 memories" or "(s)"."""

from __future__ import annotations

__all__ = ["counted"]


def counted(n: int, one: str, many: str) -> str:
    """``n`` things, said in the singular for one: "1 memory", "3 memories", "0 memories"."""
    return f"{n} {one if n == 1 else many}"
