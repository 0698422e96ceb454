"""The memory hierarchy (MemoryOS-style tiers, MemOS-style tree).

- :mod:`~memoryd.hierarchy.models`: turns in tiers, segments, a write's tier changes.
- :mod:`~memoryd.hierarchy.planner`: pure planning of one write (overflow, segments,
  eviction, promotion); :mod:`~memoryd.hierarchy.heat` and
  :mod:`~memoryd.hierarchy.keywords` its pieces.
- :mod:`~memoryd.hierarchy.tiers`: the run-time manager :class:`AsyncMemory` calls
  (writes, deferred heat, promotion, the tree).
- :mod:`~memoryd.hierarchy.promote`: what promotion does (rules or the LLM).
- :mod:`~memoryd.hierarchy.feedback`: fast-mode rules for assistant knowledge.
- :mod:`~memoryd.hierarchy.tree`: the memory tree (topics, segments, facts, episodes).

Nothing is imported here: the storage layer imports :mod:`memoryd.hierarchy.models`,
and the manager imports the storage layer.
"""

from __future__ import annotations

__all__: list[str] = []
