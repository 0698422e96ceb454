"""One current entry per profile attribute and one stance per taste in a context naming a user and
no agent (:meth:`AsyncMemory.context`), which reads every memory of the user: the shared ones (no
``agent_id``) and every agent's own, as ``search`` does.

Each agent's writes are reconciled with the shared memories and its own only, so two agents (or an
agent and the shared memories) can each hold a current home. Such a view shows one per attribute a
person has one of (:data:`~memoryd.ingest.timelines.SINGLE_VALUED`: name, home, workplace;
``metadata.attribute``): the shared one if one is current, else the most recently said
(``valid_from``) of the agents'. An explicit taste (:func:`~memoryd.ingest.preferences.taste_of`)
on a thing that is liked and disliked at once keeps the stance chosen the same way, among the
tastes the context found (its profile read and its searches). Everything else is left as it is.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from memoryd.ingest.preferences import taste_of
from memoryd.ingest.timelines import SINGLE_VALUED
from memoryd.models import MemoryKind, MemoryRecord, SearchHit

__all__ = ["OneCurrent"]


def _attribute(m: MemoryRecord) -> str | None:
    attribute = m.metadata.get("attribute") if m.kind is MemoryKind.PROFILE else None
    return str(attribute) if attribute in SINGLE_VALUED else None


def _first(m: MemoryRecord) -> tuple[bool, datetime, datetime, str]:
    """Which of two conflicting entries is shown (the larger): shared, then the latest said."""
    return (m.agent_id is None, m.valid_from, m.updated_at, m.id)


class OneCurrent:
    """What a context naming a user and no agent keeps of ``found`` (every profile memory and
    search hit it read): :meth:`records` and :meth:`hits` leave out a profile entry of a
    single-valued attribute that is not its attribute's one, and a taste of the other stance."""

    def __init__(self, found: Iterable[MemoryRecord]) -> None:
        homes: dict[str, MemoryRecord] = {}
        tastes: dict[str, tuple[MemoryRecord, str]] = {}  # thing -> the chosen taste, its stance
        stances: dict[str, set[str]] = {}
        for m in found:
            if (attribute := _attribute(m)) is not None:
                if attribute not in homes or _first(m) > _first(homes[attribute]):
                    homes[attribute] = m
            elif (taste := taste_of(m)) is not None:
                thing, polarity = taste
                stances.setdefault(thing, set()).add(polarity)
                if thing not in tastes or _first(m) > _first(tastes[thing][0]):
                    tastes[thing] = (m, polarity)
        self._homes = {a: m.id for a, m in homes.items()}
        # a thing liked and disliked at once: the chosen one's stance; else every taste stays
        self._stance = {t: stance for t, (_, stance) in tastes.items() if len(stances[t]) > 1}

    def keeps(self, m: MemoryRecord) -> bool:
        if (attribute := _attribute(m)) is not None:
            return self._homes.get(attribute, m.id) == m.id
        if self._stance and (taste := taste_of(m)) is not None:
            return self._stance.get(taste[0], taste[1]) == taste[1]
        return True

    def records(self, found: Sequence[MemoryRecord]) -> list[MemoryRecord]:
        return [m for m in found if self.keeps(m)]

    def hits(self, found: Sequence[SearchHit]) -> list[SearchHit]:
        return [h for h in found if self.keeps(h.memory)]
