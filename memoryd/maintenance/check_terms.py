"""``memoryd check``: are the keyword terms the ones this release makes?

A store records the index format of its terms (:mod:`memoryd.maintenance.terms`). A
store of an older format is reported (its next open remakes them); one of a newer
format is reported as another release's. Then each memory's stored terms must begin
with the terms of its own line as this release makes them (the terms of the turn
before it may follow): terms that do not were written by another tokenizer (an older
memoryd still running beside an upgraded one) or under other ``[index]`` settings,
and keyword search misses those memories without any error. What one pass finds is
looked at again, so a memory edited while the check reads is not reported.
"""

from __future__ import annotations

from collections.abc import Sequence

from memoryd.ingest.represent import INDEX_FORMAT, Represent
from memoryd.maintenance.rebuild import Progress
from memoryd.maintenance.terms import NEWER, PHASE, format_number, terms_format
from memoryd.models import MemoryRecord, Scope
from memoryd.storage import KeywordIndex, RecordStore

__all__ = ["term_problems"]

REMAKE = (
    "open the store with this memoryd (any command: its keyword terms are made again as it opens), "
    "or run `memoryd reindex --keywords-only`"
)
REINDEX_KEYWORDS = (
    "run `memoryd reindex --keywords-only`: it rebuilds the keyword index from the records (no model runs)"
)
_EXAMPLES = 3
_KEPT = 10_000  # ids kept for the second look; past that, the first pass's count is reported


async def term_problems(
    records: RecordStore,
    keywords: KeywordIndex,
    represent: Represent,
    progress: Progress | None = None,
    *,
    batch_size: int = 1000,
) -> list[tuple[str, str]]:
    """(message, fix) for each problem with the store's keyword terms."""
    found = await terms_format(records)
    if found not in (None, INDEX_FORMAT):
        if format_number(found) > int(INDEX_FORMAT):
            return [(f"the keyword terms are of index format {found}, a newer memoryd's", NEWER)]
        return [
            (
                f"the keyword terms are of index format {found}; this memoryd makes format "
                f"{INDEX_FORMAT}: keyword search does not find every word until they are made again",
                REMAKE,
            )
        ]
    if progress is not None:
        progress(PHASE, 0, None)
    stale: list[str] = []
    count = 0
    cursor: str | None = None
    while True:
        # a record this release cannot read is the records' check's to report
        page, cursor = await records.scan(Scope(), after=cursor, limit=batch_size, unreadable=[])
        differ = await _differ(page, keywords, represent)
        count += len(differ)
        stale += differ[: max(0, _KEPT - len(stale))]
        if progress is not None and page:
            progress(PHASE, len(page), None)
        if cursor is None:
            break
    if not count:
        return []
    if count <= _KEPT:  # a second look: an edit seen half-way (text read, terms not yet) passes it
        fresh = await records.get_many(stale, shared=True)
        stale = await _differ([fresh[i] for i in stale if i in fresh], keywords, represent)
        count = len(stale)
        if not count:
            return []
    one = "keyword entry holds" if count == 1 else "keyword entries hold"
    example = ", ".join(stale[:_EXAMPLES])
    return [
        (
            f"{count} {one} terms this memoryd does not make from the memory's text (another "
            f"release's tokenizer, or other [index] settings: keyword search misses them) "
            f"(e.g. memory {example})",
            REINDEX_KEYWORDS,
        )
    ]


async def _differ(
    memories: Sequence[MemoryRecord], keywords: KeywordIndex, represent: Represent
) -> list[str]:
    """The ids of ``memories`` whose stored terms do not begin with their own line's terms (a memory
    with no entry or no terms is the index comparison's to report)."""
    if not memories:
        return []
    stored = await keywords.terms([m.id for m in memories])
    out = []
    for memory in memories:
        terms = stored.get(memory.id)
        if terms is None:
            continue
        own = represent.terms(memory)
        if terms[: len(own)] != own:
            out.append(memory.id)
    return out
