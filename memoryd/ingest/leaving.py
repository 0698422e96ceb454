"""Statements that end the user's home or workplace, for fast mode's rules (:mod:`memoryd.ingest.rules`):
"I no longer live in Rome", "I don't live in Rome anymore", "I moved out of Rome", "I no longer work at
Acme", "I left Acme", "I quit my job at Acme", "我不再住在罗马", "我已经不在谷歌工作了".

Such a statement is a profile memory on the home's (workplace's) timeline ("The user no longer lives
in Rome."), with the place it ends under :data:`LEFT` in its metadata: laid on the timeline like a
new home, it ends the current one, kept for ``as_of`` with a SUPERSEDE in its history. It is stored
only when the home current just before it is the place it names (:func:`ends`): "I left my keys",
"I quit smoking" or "I moved out of Milan" said while the user lives in Rome change nothing. A
"don't … anymore" is needed ("I don't live in Rome" alone may correct, not end). Pure: no I/O.
"""

from __future__ import annotations

import re

from memoryd.models import MemoryRecord

__all__ = ["EN_BODIES", "LEFT", "ZH_BODIES", "ends"]

LEFT = "left"  # the metadata key of the place an ending statement names
_ANYMORE = r"\s+any\s?more\b"
# English, after the start of a statement (rules._EN_START); compiled there, case-insensitive.
EN_BODIES: list[tuple[str, str]] = [
    ("moved_out", r"i(?:'m| am)?\s+no\s+longer\s+liv(?:e|ing)\s+in\s+(?P<x>.+)"),
    ("moved_out", rf"i\s+(?:don't|do\s+not|dont)\s+live\s+in\s+(?P<x>.+?){_ANYMORE}"),
    ("moved_out", rf"i(?:'m|\s+am)\s+not\s+living\s+in\s+(?P<x>.+?){_ANYMORE}"),
    ("moved_out", r"i(?:'ve|\s+have)?\s+(?:just\s+)?moved\s+(?:out\s+of|away\s+from)\s+(?P<x>.+)"),
    ("left_work", r"i(?:'m| am)?\s+no\s+longer\s+work(?:ing)?\s+(?:at|for)\s+(?P<x>.+)"),
    ("left_work", rf"i\s+(?:don't|do\s+not|dont)\s+work\s+(?:at|for)\s+(?P<x>.+?){_ANYMORE}"),
    ("left_work", rf"i(?:'m|\s+am)\s+not\s+working\s+(?:at|for)\s+(?P<x>.+?){_ANYMORE}"),
    (
        "left_work",
        r"i(?:'ve|\s+have)?\s+(?:just\s+)?(?:left|quit|resigned\s+from|stopped\s+working\s+(?:at|for))\s+"
        r"(?:my\s+(?:job|position|role)\s+(?:at|with)\s+|working\s+(?:at|for)\s+)?(?P<x>.+)",
    ),
]
_ZH_THING = r"(?P<x>[^，,。！？\s]{1,30}?)"
# Chinese, after the start of a statement (rules._ZH_START): "不再" (no longer), "已经不" (already
# not), or "不…了" (not any more).
ZH_BODIES: list[tuple[str, str]] = [
    ("moved_out", r"我(?:已经不再|已经不|不再)住在(?P<x>[^，,。！？\s]{1,30})"),
    ("moved_out", r"我不住在(?P<x>[^，,。！？\s]{1,30}了)"),
    ("moved_out", r"我(?:已经)?搬离了?(?P<x>[^，,。！？\s]{1,30})"),
    ("moved_out", rf"我(?:已经)?从{_ZH_THING}搬走了"),
    ("left_work", rf"我(?:已经不再|已经不|不再)在{_ZH_THING}(?:上班|工作)"),
    ("left_work", rf"我不在{_ZH_THING}(?:上班|工作)了"),
    ("left_work", rf"我(?:已经)?从{_ZH_THING}辞职了?"),
]

_OWN = re.compile(r"^(?:the user (?:no longer )?(?:lives in|works at)\s+|用户(?:不再)?(?:住在|在))", re.I)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")
_TRAIL = re.compile(r"(?:工作)?[\s.,:;!?'\"“”‘’。！？；，、…]+$|工作$")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _norm(text: str) -> str:
    return _ARTICLE.sub("", _TRAIL.sub("", " ".join(text.split()).casefold()))


def ends(new: MemoryRecord, before: MemoryRecord | None) -> bool:
    """Whether ``new``, an ending statement (:data:`LEFT` in its metadata), ends ``before``, the
    memory current on its timeline just before it: a home or workplace (not another ending) whose
    place holds the one ``new`` names, or its part before a comma, as whole words ("Rome" ends
    "Rome, Italy"; "Rome, Italy" ends "Rome")."""
    if before is None or LEFT in before.metadata:
        return False
    place = _norm(str(new.metadata.get(LEFT, "")))
    if before.valid_to is not None and before.valid_to <= new.valid_from or not place:
        return False
    held = _norm(_OWN.sub("", before.text.strip()))
    for said in {place, place.split(",")[0].strip()}:  # "Rome, Italy" ends "Rome" too
        if _HAN.search(said) and said in held:
            return True
        if said and re.search(rf"(?<!\w){re.escape(said)}(?!\w)", held) is not None:
            return True
    return False
