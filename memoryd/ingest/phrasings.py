"""More everyday phrasings of self-statements for fast mode's rules (:mod:`memoryd.ingest.rules`).

- a move: "I moved to Lisbon last month", "I've just moved to Berlin", "I relocated to Madrid",
  "我搬到了杭州": the home, as "I live in …" states it ("The user lives in Lisbon.", rule ``live``);
  in Chinese also a move with no subject of its own after the speaker's clause in its sentence
  ("我住在北京，后来又搬到了上海": 上海; not after "我妹妹住在北京": :func:`zh_own_move`).
  Only a past move to a known place (:mod:`memoryd.ingest.places`: a city, "St. Louis", "Denver,
  Colorado", a country, a US state; "I moved to Chrome", "我搬到了三楼" are no home), and not one for
  a time ("for a semester", "temporarily"), in childhood ("when I was five") or undone ("then came
  back", or later in its sentence by the speaker: "去年我搬到了杭州，今年又搬回了北京", "I moved out of
  Rome, but I came back": :func:`undone`, no end of the home either; "，后来我妹妹又搬回了北京" undoes
  nothing; a Chinese home also by a next sentence only moving away, "我住在北京。后来又搬走了。":
  :func:`left_next`); a plan ("I'm moving to…") is not read. A year
  said right after the place ("in 2019", "in March 2019", "three years ago") is when the home began
  (:attr:`~memoryd.ingest.rules.Statement.since`), on the home's timeline: a home stored as said
  later stays current; the year it is said in, the turn's time; a year still to come, or before
  1900, is not read.
- a new job: "I started a new job at Spotify", "I got a job at Netflix last month", "I've just
  started working for Acme": the workplace, as "I work at …" states it ("The user works at
  Spotify.", rule ``work``), the time said after it read as a move's is; not a job offer, a plan
  ("I'm starting…", "… next month"), or a place that employs no one ("at home").
- an occupation: "I work as a nurse", "I'm working as a teacher": "The user is a nurse." (rule
  ``identity``, as "I'm a nurse"), the role only ("a waiter until I find something better" is a
  waiter; "I work as a team" names none); a diet: "I'm vegetarian", "I'm vegan": "The user is vegan.",
  ended by "I'm no longer vegan", "I'm not vegan anymore", "I stopped being vegan" ("The user is no
  longer vegan.").
- a favourite: "My favourite food is bacalhau", "我最喜欢的食物是饺子": an explicit preference
  ("The user's favourite food is bacalhau.", rule ``favourite``, ``metadata.favourite`` its
  category), one per category at a time: a later one of the category ends it (:func:`favourite_line`).
  Only a plain answer naming one thing is one ("green, what's yours" is green): a hedge or a
  non-answer ("probably sushi", "hard to pick", "a tie between…"), a clause, a description of the
  favourite thing ("super soft", "actually a mystery writer") or a past one (以前是) is none, and
  ends none.
- an allergy: "I'm allergic to peanuts", "我对花生过敏": a profile memory ("The user is allergic to
  peanuts.", attribute ``allergy``); allergies add up. A figure of speech ("allergic to Mondays",
  "to the idea of…", "to running") is none. "I'm not allergic to peanuts anymore", "I'm no longer
  allergic to…", "I outgrew my peanut allergy" end it. What follows "anymore" is read as what
  follows "no longer" is (reported speech, a time to come), and a remark after it ("…, thankfully")
  is no part of what ends; an end only at some times or places ("… anymore when I travel", "… on
  weekends") or the idiom "any more than" is none.
- a diet and an allergy are each on a timeline of their own (:func:`state_line`: one per diet, one
  per allergen, "peanut" one with "peanuts", "strawberry" with "strawberries"): an end, as one of
  a home (:mod:`memoryd.ingest.leaving`), ends only the one it names, kept ended for ``as_of``; an
  end of one not current is not stored. When it ended is no part of what it names ("my allergy to
  shellfish as a kid": shellfish), and "my old (bad, only, first, own) allergy" names none.

The rules' guards hold for these as for the others (questions, hedges, quotes, reported speech,
other speakers, other times). Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from memoryd.ingest.later import own_words
from memoryd.ingest.leaving import (
    ANYMORE,
    COUNTS,
    EN_WHEN,
    ENDED_ANYMORE,
    I_AM,
    I_HAVE,
    LEFT,
    WHEN_BEFORE,
    ZH_I,
    ZH_THING,
    ZH_WHEN,
    ZH_X,
    not_yet,
    place,
    year_said,
)
from memoryd.ingest.objects import allergen, favourite_answer, occupation
from memoryd.ingest.places import COMMON_WORDS, MOVE_WORDS, MOVED, known_places, plain
from memoryd.models import MemoryKind, MemoryRecord

__all__ = [
    "EN_BODIES", "NO_EMPLOYER", "PHRASED", "ZH_BODIES", "favourite_line", "line_filter", "phrased",
    "prefilter", "left_next", "state_line", "state_of", "state_rules", "undone", "zh_own_move",
]  # fmt: skip

FAVOURITE = "favourite:"  # a favourite's timeline, before its category (a home's: its attribute)
_DIETS = ("vegetarian", "vegan", "pescatarian", "pescetarian", "flexitarian")
_DIET = rf"(?:{'|'.join(_DIETS)})"
_OUTGREW = I_HAVE + r"outgr[eo]wn?\s+my\s+"

_COUNT = rf"(?:\d{{1,2}}|{'|'.join(COUNTS)})"  # a count read as a number (_move)
# When a move was, said before it ("Last year I moved to…", "In 2019, I moved to…", "Yesterday I…").
# English, after the start of a statement (rules._EN_START); compiled there, case-insensitive.
EN_BODIES: list[tuple[str, str]] = [
    (
        "move",
        EN_WHEN + I_HAVE + rf"(?:just\s+|recently\s+|finally\s+|now\s+)?{MOVED}\s+"
        r"(?:back\s+|over\s+)?to\s+(?P<x>.+)",
    ),
    (
        "job",
        EN_WHEN + I_HAVE + r"(?:just\s+|recently\s+|finally\s+)?(?:started|began)\s+"
        r"(?:(?:a|my)\s+(?:new\s+)?job|working)\s+(?:at|for|with)\s+(?P<x>.+)",
    ),
    (
        "job",
        EN_WHEN + I_HAVE + r"(?:just\s+|recently\s+|finally\s+)?(?:got|gotten|landed|took|accepted)\s+"
        r"(?:a|the)\s+(?:new\s+)?job\s+(?:at|with)\s+(?P<x>.+)",
    ),
    ("work_as", r"i(?:'m|\s+am)?\s+(?:currently\s+|now\s+)?work(?:ing)?\s+as\s+(?P<x>(?:a|an)\s+.+)"),
    ("favourite", r"my\s+(?P<v>favou?rite)\s+(?P<c>[a-z]+(?:\s+[a-z]+)?)\s+is\s+(?P<x>.+)"),
    ("allergy", I_AM + r"(?:very\s+|severely\s+|quite\s+|mildly\s+)?allergic\s+to\s+(?P<x>.+)"),
    ("diet", rf"{I_AM}(?:(?:a|strictly|fully)\s+)?(?P<x>{_DIET}\b.*)"),
    # an end of a diet or an allergy: "I'm no longer vegan", "I'm not vegetarian anymore", "I stopped
    # being vegetarian", "I'm not allergic to peanuts anymore", "I outgrew my peanut allergy"
    ("diet_end", rf"{I_AM}no\s+longer\s+(?:a\s+)?(?P<x>{_DIET}\b.*)"),
    ("diet_end", rf"{I_AM}not\s+(?:a\s+)?(?P<x>{_DIET}{ANYMORE})"),
    ("diet_end", rf"{I_HAVE}(?:stopped|quit)\s+being\s+(?:a\s+)?(?P<x>{_DIET}\b.*)"),
    ("allergy_end", I_AM + r"no\s+longer\s+allergic\s+to\s+(?P<x>.+)"),
    ("allergy_end", rf"{I_AM}not\s+allergic\s+to{ENDED_ANYMORE}"),
    ("allergy_end", _OUTGREW + r"allerg(?:y|ies)\s+to\s+(?P<x>.+)"),
    ("allergy_end", _OUTGREW + r"(?P<x>[a-z]+(?:\s+[a-z]+)?)(?P<a>\s+allerg(?:y|ies))\b"),
]
# Where an end of a diet or an allergy holds only at some times or places, said right after what ends
# (before a comma): "vegan anymore when I travel", "vegan on weekends", "cats anymore after the shot".
_PARTIAL = re.compile(
    r"\s(?:when|whenever|while|whilst|unless|except|if|during|on|at|in|around|outside|after|before|until|"
    r"till|for|with|without|only|sometimes|most|some)\b",
    re.I,
)
_FIRST_PART = re.compile(r"[,;:(]")
_YOUNG = r"(?:kid|child|teen(?:ager)?|baby|toddler|boy|girl)"  # what one was as a child ("as a kid")
# _ENDED_AT, _REMARK, _ZH_AWAY and _FAVOURITE_NOW start at no space (or mark) after one: a leftmost
# match never does, so they find the same, and a run of them is no longer scanned again from each
# of its characters (quadratic).
# When an end was, said after what ended: an age, or a time of life ("I outgrew my allergy to
# shellfish as a kid", "… when I was little"); no part of what ended.
_ENDED_AT = re.compile(
    rf",?(?<!\s)\s+(?:as\s+an?\s+(?:{_YOUNG}|adult)|growing\s+up"
    r"|when\s+i\s+was\s+(?:little|young|small|a\s+\w+|\d+|\w+\s+years?\s+old)"
    r"|in\s+my\s+(?:childhood|youth|teens|twenties|thirties)|(?:at|by)\s+(?:the\s+)?age\s+(?:of\s+)?\d+)$",
    re.I,
)
# A remark on an end, said after what ended ("I'm not vegan anymore, thankfully", "… now, sadly"): no
# part of what ended (a hedge or someone's speech there is none: objects.hedged_after, reported_after).
_REMARK = re.compile(
    r"(?:,?(?<!\s)\s+(?:thankfully|luckily|fortunately|unfortunately|sadly|honestly|actually|though|obviously"
    r"|officially|for\s+real|of\s+course|thank\s+(?:god|goodness)|lol|haha|btw|by\s+the\s+way))+$",
    re.I,
)
# Words before "allergy" in "I outgrew my … allergy" that name no allergen ("my old allergy"), or
# come before one ("my childhood peanut allergy": peanut).
_NO_ALLERGEN = frozenset(
    "old bad only first own worst last little childhood severe mild terrible awful seasonal food skin "
    "other main biggest former lifelong".split()
)
# What comes after, said before a later clause's verb ("，后来又搬到了上海", "。然后我又搬走了").
_ZH_LATER = r"(?:后来|然后|之后|随后|接着|最后)"
# The speaker's move, maybe after what came before it (后来我又搬到了…) and with when it was (去年我搬到了…,
# 我去年搬到了…). The adverbs are taken possessively: "刚刚" is one word or two.
_ZH_MOVE = rf"{_ZH_LATER}?{ZH_I}(?:[又也就]|刚刚?|已经|最近|终于)*+搬(?:到|去)"
# Chinese, after the start of a statement (rules._ZH_START): before "我…喜欢" (the like rule).
ZH_BODIES: list[tuple[str, str]] = [
    ("move", _ZH_MOVE + "了" + ZH_X),  # 我搬到了杭州
    ("move", _ZH_MOVE + ZH_THING + "了"),  # 我搬到杭州了
    ("favourite", r"我最(?:喜欢|爱)的(?P<c>[^，,。！？\s的]{1,6})是" + ZH_X),
    ("allergy", rf"我对{ZH_THING}(?:有点|有些|很|非常|特别|严重)?(?<![不没])过敏"),
]
PHRASED = {rule for rule, _ in EN_BODIES + ZH_BODIES}
# Words the English bodies above need (lower case), and the rules of those bodies: a cheap test before
# any of them is tried; "work as" only then ("as" alone is in most turns).
_KEYS = {
    **dict.fromkeys(MOVE_WORDS, ("move",)), "favo": ("favourite",), "allerg": ("allergy", "allergy_end"),
    "veg": ("diet", "diet_end"), "tarian": ("diet", "diet_end"), "job": ("job",), "started": ("job",),
    "began": ("job",),
}  # fmt: skip
# Objects of "I work at/for …" (and of a new job) that name no workplace: where or how one works, not
# for whom ("I work at home", "… for myself"; the object is already in the third person).
NO_EMPLOYER = re.compile(
    r"^(?:home|their home|the house|night|nights|weekends|the moment|first|last|least|most|times|"
    r"themselves|themself|their own|a desk|a computer)$",
    re.I,
)
# When a new job began, said after its workplace ("at Netflix last month", "… in 2019"): no part of it.
# Its spaces start at no space after one: a run of them is not scanned again from each one (quadratic).
_JOB_WHEN = re.compile(rf",?(?<!\s)\s+(?:{WHEN_BEFORE})$", re.I)
_WORK_AS = re.compile(r"\bwork(?:ing)?\s+as\b")


def prefilter(part: str) -> frozenset[str]:
    """The rules of :data:`EN_BODIES` that may match ``part`` (substring tests: cheaper than a regex);
    empty if none may."""
    low = part.lower()
    rules = frozenset(rule for key, some in _KEYS.items() if key in low for rule in some)
    return rules | {"work_as"} if "work" in low and _WORK_AS.search(low) is not None else rules


# A move's place: lower-case words inside its name ("Rio de Janeiro", "Frankfurt am Main").
_PARTICLES = {"de", "da", "do", "dos", "das", "del", "di", "du", "la", "le", "of", "upon", "am", "im", "on"}
_PLACE_WORDS = 5
_PUNCT = ",.!?;:"
# Where a place's name ends: punctuation after a word, but the dot of "St.", "Mt.", "Ft.".
_ENDS_NAME = re.compile(r"[,;:!?]$|(?<!^St)(?<!^Mt)(?<!^Ft)\.$")
# What may follow a city that is also a word ("I moved to Nice last year"): no part of a name.
_THEN = {
    "in", "last", "this", "with", "for", "from", "about", "around", "ago", "recently", "back", "after",
    "before", "when", "because", "since", "and", "but", "to", "at", "on", "now", "earlier", "yesterday",
    "today", "finally", "permanently", "a", "an", "one", "two", "three", "four", "five", "six", "few",
    "several", "where", "which", "so", "during", "early", "late", "full-time", "again",
}  # fmt: skip
# Where the words about the move itself end after its place ("Paris in 2024, finally" has its year;
# "Paris, the city I first visited in 2009" not).
_OWN_CLAUSE = re.compile(
    r",|\s(?:i|we|he|she|they|it|which|that|who|where|when|because|since|after|before|and|but)\b", re.I
)
# A move that is not to the home now: for a time, temporary, in childhood, or undone.
_NOT_HOME = re.compile(
    rf"\bfor\s+(?:(?:{_COUNT}|a\s+few|a\s+couple\s+of|several|some|the)\s+)?"
    r"(?:semesters?|terms?|summers?|winters?|springs?|autumns?|falls?|years?|months?|weeks?|days?|while|bit|"
    r"season|school\s+year|academic\s+year|weekends?|nights?|holidays?|vacation|trip)\b"
    rf"|\btemporar(?:y|ily)\b|\bwhen\s+i\s+was\b|\bas\s+a\s+{_YOUNG}\b"
    r"|\bat\s+(?:the\s+)?age\s+(?:of\s+)?\d|\bgrowing\s+up\b|\bin\s+my\s+(?:childhood|youth|teens)\b"
    r"|\bcame\s+back\b|\b(?:and|then)\s+(?:then\s+)?back\b|\bmoved\s+(?:back|away|again|on)\b|\breturned\b"
    r"|\bbefore\s+(?:moving|coming|returning|settling)\b|\band\s+then\s+to\b",
    re.I,
)
# A move undone later in its sentence, by the speaker ("去年我搬到了杭州，今年又搬回了北京",
# "…，后来又搬走了", "Last year I moved out of Rome, but I came back"): no home now, nor an end of one.
_MOVED = re.compile(rf"\b{MOVED}\b|搬", re.I)
_UNDONE = re.compile(
    r"\b(?:i|we)(?:'ve|'d|\s+have|\s+had)?\s+(?:then\s+|later\s+|eventually\s+|soon\s+|just\s+|since\s+)?"
    r"(?:(?:came|come|went|gone|moved|got)\s+back|returned|moved\s+(?:away|again|on))\b"
    r"|\b(?:but|then|and|later)\s+(?:then\s+|later\s+)?(?:(?:came|went|moved)\s+back|returned)\b"
    r"|搬回|搬走|搬离|又搬|后来[^，,。！？]*回",
    re.I,
)
# A Chinese home (我住在…) left later in its sentence ("我住在北京，后来又搬走了": lived there, as "I
# lived in Rome, but later I moved away" says): no home now. Not a move to it ("是从上海搬回来的",
# "搬过来", "从父母家搬出来"), nor one from another place ("搬离了上海").
# Moving house away, with where to or not (搬走, 搬到, 搬去…): not "搬了张桌子", "又搬了一次家".
_ZH_AWAY_VERB = r"搬(?:走|离|出去|到|去|往)"
_ZH_HOME = re.compile(r"我(?:现在|目前)?住在")
_ZH_LEFT_HOME = re.compile(
    r"(?:搬走|搬离|搬出去)了?(?:那里|那儿)?(?=[，,。！？]|$)|离开了?(?:那里|那儿)(?=[，,。！？]|$)"
    rf"|(?:又|{_ZH_LATER})[^，,。！？]*?{_ZH_AWAY_VERB}"  # "，然后搬到了上海"
    # "，后来回了上海", "…回国了"; not "…回家了", "…回复了他", "…回去看了看父母"
    r"|后来[^，,。！？]*?回(?!家|复|去|来|答|应|头|忆|想|信|电|话|顾|合)"
)
# … or in the sentence right after its own, when that says only that the speaker moved away ("我住在北京。
# 后来又搬走了。", "。后来我又搬走了"): what follows that sentence, from the mark that ends it (left_next).
_ZH_AWAY = re.compile(
    r"(?<![.!;\n。！；…\s])[.!;\n。！；…\s]+"
    rf"{_ZH_LATER}?我?{_ZH_LATER}?[又也就]?(?:搬走|搬出去)了(?:那里|那儿)?"
    r"(?=[.!;\n。！；…]|$)"
)
# Someone else who moves back in the Chinese clause of a reversal, before its verb ("后来我妹妹又搬回了北京",
# "他又搬走了"): no reversal of the speaker's move; not someone the speaker moves with (跟我父母一起).
_ZH_OTHER = re.compile(
    r"[他她它你您]|别人|人家|大家|我们?的|妹|姐|哥|弟|妈|爸|父|母|爷|奶|姥|叔|舅|姑|姨|伯|婶|孩子|儿子|女儿"
    r"|朋友|同事|同学|室友|邻居|老公|老婆|丈夫|妻子|太太|先生|家人|亲戚|对象|男友|女友|老板|领导"
)
_ZH_WITH = re.compile(r"(?:跟|和|与|同|陪着?)[^，,。！？]{0,12}?一起")
# A Chinese move clause with no subject of its own ("后来又搬到了上海", "今年搬到了上海"): only when it
# was and adverbs before its verb (搬, or 从…搬); the speaker's after a clause of theirs (zh_own_move).
# Its words are taken possessively (*+): "刚刚" is one word or two, and a run of them split every way
# before a failing lookahead took exponential time.
_ZH_NO_SUBJECT = re.compile(
    rf"(?:{ZH_WHEN}|{_ZH_LATER}|不久|于是|所以|但是?|可是|不过|而且|已经|刚刚?|终于"
    r"|[又再也还就便才])*+(?=搬|从[^，,。！？\s]{1,30}?搬)"
)
# A clause of the speaker's: 我 its subject (我住在北京, 去年我…, 后来我又…), not 我们, 我的…, 我妹妹.
_ZH_SPEAKER = re.compile(rf"(?:{_ZH_LATER}|但是?|可是|不过|而且|现在|目前|如今)*+{ZH_I}(?![们的])")
_ZH_TO_DO = re.compile(r"(?:工作|上班|上学|读书|生活|居住|定居|住)$")
_AGO = re.compile(rf"\b(?P<n>{_COUNT})\s+(?P<u>year|month|week)s?\s+ago\b", re.I)
_DAYS = {"year": 365, "month": 30, "week": 7}

Said = tuple[str, MemoryKind, str, dict[str, Any], datetime | None]  # text, kind, rule, metadata, since


def phrased(rule: str, obj: str, found: re.Match[str], at: datetime | None, zh: bool) -> Said | None:
    """The statement one of :data:`EN_BODIES` / :data:`ZH_BODIES` reads, its object ``obj`` (cleaned
    and in the third person), said at ``at``; None if it reads none."""
    if rule == "move":
        return _zh_move(obj) if zh else _move(obj, found, at or datetime.now(UTC))
    if rule == "job":
        return _job(obj, found, at or datetime.now(UTC))
    if rule == "work_as":
        role = occupation(obj)  # "a waiter until I find…": a waiter; "a team": none
        return None if role is None else _profile(f"The user is {role}.", "identity", "identity")
    if rule in ("diet_end", "allergy_end"):
        return _end_of(rule, obj, found)
    if rule == "diet":
        if obj.lower() not in _DIETS:
            return None  # "I'm vegan food obsessed", "I'm vegetarian for a month"
        return _profile(f"The user is {obj.lower()}.", "identity", "identity")
    if rule == "favourite":
        return _zh_favourite(found["c"], obj) if zh else _en_favourite(found, obj)
    if rule == "allergy":
        thing = obj if zh else allergen(obj)  # "I'm allergic to Mondays": a figure of speech
        if thing is None:
            return None
        text = f"用户对{thing}过敏。" if zh else f"The user is allergic to {thing}."
        return _profile(text, "allergy", "allergy")
    return None


def undone(clause: str, rest: str) -> bool:
    """Whether a move ``clause`` is undone by what follows it in its sentence, ``rest``
    (:data:`_UNDONE`): "去年我搬到了杭州" before "，今年又搬回了北京", not "，后来我妹妹又搬回了北京"
    (someone else's reversal: :func:`_not_own`); or a Chinese home left (:data:`_ZH_LEFT_HOME`):
    "我住在北京" before "，后来又搬走了"."""
    if _MOVED.search(clause) is not None:
        reversals = _UNDONE
    elif _ZH_HOME.search(clause) is not None:
        reversals = _ZH_LEFT_HOME  # "我住在北京" before "，后来又搬走了": lived there
    else:
        return False
    return any(not _not_own(rest, m) for m in reversals.finditer(rest))


def left_next(clause: str, after: str) -> bool:
    """Whether a Chinese home ``clause`` (我住在北京, 我搬到了北京) is left in the sentence right after
    its own, which ``after`` starts with (from the mark ending the clause's sentence), as it is by a
    clause of its own sentence (:func:`undone`): "。后来又搬走了。" (:data:`_ZH_AWAY`)."""
    home = _ZH_HOME.search(clause) is not None or "搬" in clause
    return home and _ZH_AWAY.match(after) is not None


def _not_own(rest: str, reversal: re.Match[str]) -> bool:
    """Whether the reversal ``reversal`` in ``rest`` is not the speaker's own move: its clause names
    another person before its verb (:data:`_ZH_OTHER`: "后来我妹妹又搬回了北京"), or moves a thing
    ("后来把书搬走了")."""
    start = max(rest.rfind(edge, 0, reversal.start()) for edge in "，,") + 1  # its clause
    clause = _ZH_WITH.sub("", rest[start : reversal.end()])
    return _ZH_OTHER.search(clause) is not None or "把" in clause or "将" in clause


def zh_own_move(clause: str, before: str) -> str | None:
    """A Chinese move ``clause`` with no subject of its own (:data:`_ZH_NO_SUBJECT`: "后来又搬到了上海")
    as the speaker's ("我搬到了上海"), when ``before``, the clause before it in its sentence, is the
    speaker's home or move (:data:`_ZH_SPEAKER`: "我住在北京"; not "我妹妹住在北京", nor "我有个妹妹",
    whose sister the next clause is about); else None."""
    if "搬" not in clause or (bare := _ZH_NO_SUBJECT.match(clause)) is None:
        return None
    mine = _ZH_SPEAKER.match(before)
    if mine is None or ("住" not in before and "搬" not in before):
        return None  # "我不知道，后来搬到了上海": no home of the speaker's before it
    if _ZH_OTHER.search(before, mine.end()) is not None:
        return None  # "他住在北京，后来搬到了上海", "我妹妹住在北京，…", "我有个妹妹，…": theirs
    return "我" + clause[bare.end() :]


def _end_of(rule: str, obj: str, found: re.Match[str]) -> Said | None:
    """An end of a diet or an allergy, its object ``obj``: the diet or allergen it names, without
    when it ended ("shellfish as a kid", "peanuts last year"); None if it names none, or holds
    only at some times or places ("vegan anymore when I travel")."""
    if _PARTIAL.search(_ENDED_AT.sub("", _FIRST_PART.split(found["x"], maxsplit=1)[0])):
        return None  # "I'm not vegan anymore when I travel", "… on weekends": only at some times, places
    obj = place(_ENDED_AT.sub("", _REMARK.sub("", obj)))  # "shellfish as a kid", "… last year, sadly"
    if rule == "diet_end":
        diet = obj.lower()
        return _ended(f"The user is no longer {diet}.", rule, "identity", diet) if diet in _DIETS else None
    thing = allergen(obj)
    outgrown = found.groupdict().get("a") is not None  # "I outgrew my peanut allergy"
    if thing is not None and outgrown:
        first, _, rest = thing.partition(" ")
        thing = rest if first.lower() in _NO_ALLERGEN else thing  # "my childhood peanut allergy": peanut
    if not thing or thing.lower() in _NO_ALLERGEN or not outgrown and not _ALLERGEN_END.fullmatch(thing):
        return None  # "I'm no longer allergic to Mondays", "I outgrew my old allergy"
    if outgrown:
        return _ended(f"The user outgrew their {thing} allergy.", rule, "allergy", thing)
    return _ended(f"The user is no longer allergic to {thing}.", rule, "allergy", thing)


def _profile(text: str, rule: str, attribute: str, since: datetime | None = None) -> Said:
    return text, MemoryKind.PROFILE, rule, {"attribute": attribute}, since


def _ended(text: str, rule: str, attribute: str, thing: str) -> Said:
    """An end of a diet or an allergy: on its timeline (:func:`state_line`), the thing it ends under
    :data:`~memoryd.ingest.leaving.LEFT`, as an end of a home names its place."""
    return text, MemoryKind.PROFILE, rule, {"attribute": attribute, LEFT: thing}, None


def _favourite(category: str) -> tuple[MemoryKind, str, dict[str, Any], None]:
    meta = {"preference": "explicit", "polarity": "like", "favourite": category}
    return MemoryKind.PREFERENCE, "favourite", meta, None


# Said after a favourite's category: when it holds ("My favourite food now is", "…ever is"): now.
_FAVOURITE_NOW = re.compile(r"(?<!\s)\s+(?:now|currently|ever|these\s+days|right\s+now|of\s+all\s+time)$")
_ZH_NOW = re.compile(r"(?:现在|目前|如今)$")
# A Chinese favourite's category holding a past (以前, 曾经: "used to be"), a hedge or an adverb:
# no present favourite ("我最喜欢的食物以前是饺子").
_ZH_NOT_NOW = re.compile(
    r"以前|曾经|过去|从前|原来|本来|之前|小时候|当年|"
    r"应该|大概|估计|一直|其实|可能|也许|[还就都也]$"
)


def _en_favourite(found: re.Match[str], obj: str) -> Said | None:
    """A favourite ("My favourite food is bacalhau"), if what follows "is" names one thing
    (:func:`~memoryd.ingest.objects.favourite_answer`)."""
    thing = favourite_answer(obj, found["x"])
    if thing is None:
        return None  # "hard to pick", "probably sushi": no favourite stated, none ended
    word, category = found["v"].lower(), _FAVOURITE_NOW.sub("", " ".join(found["c"].lower().split()))
    return f"The user's {word} {category} is {thing}.", *_favourite(category.replace("colour", "color"))


def _zh_favourite(category: str, obj: str) -> Said | None:
    """A favourite (我最喜欢的食物是饺子); none for a past one (以前是); "我妈妈" as 用户的妈妈."""
    category = _ZH_NOW.sub("", category)
    if not category or _ZH_NOT_NOW.search(category) or _ZH_NOT_NOW.match(obj):
        return None
    obj = re.sub(r"^我的?", "用户的", obj)
    return f"用户最喜欢的{category}是{obj}。", *_favourite(category)


def _zh_move(obj: str) -> Said | None:
    obj = _ZH_TO_DO.sub("", obj)  # 我搬到了杭州工作: 杭州
    zh = known_places().zh if obj else frozenset()
    if obj not in zh and not (obj[-1:] in ("市", "省") and obj[:-1] in zh):
        return None  # 我搬到了三楼, 我搬到了新家: no place
    return _profile(f"用户住在{obj}。", "live", "location")


def _move(obj: str, found: re.Match[str], at: datetime) -> Said | None:
    """A move's home: the known place (:mod:`memoryd.ingest.places`) at the start of ``obj``, and
    when the move was if the words right after it or ``t`` (said before "I moved") name a year
    or how long ago; None for no place, a move still to come, or one not to the home now (for a
    time, in childhood, undone: :data:`_NOT_HOME`)."""
    if _NOT_HOME.search(found["x"]):
        return None  # "I moved to Paris for a semester", "… when I was five", "… then came back"
    words = obj.split()
    taken = _place(words)
    if taken is None:
        return None
    n, home = taken
    own = _OWN_CLAUSE.split(" ".join(words[n:]), maxsplit=1)[0]  # not "Paris, the city I visited in 2009"
    now, since = _began(own, found["t"] or "", at)
    if not now:
        return None  # a year still to come (a plan, not the home now), or no year of the user's
    return _profile(f"The user lives in {home}.", "live", "location", since)


def _job(obj: str, found: re.Match[str], at: datetime) -> Said | None:
    """A new job's workplace: ``obj`` up to when it began (:data:`_JOB_WHEN`), its own words
    (:func:`~memoryd.ingest.later.own_words`), with that time as a move's is; None for a
    workplace that is none (:data:`NO_EMPLOYER`) or a year still to come."""
    when = _JOB_WHEN.search(obj)
    employer = own_words(obj[: when.start()] if when else obj).rstrip(_PUNCT)
    now, since = _began(when.group() if when else "", found["t"] or "", at)
    if not employer or NO_EMPLOYER.match(employer) or not now:
        return None
    return _profile(f"The user works at {employer}.", "work", "work", since)


def _began(own: str, when: str, at: datetime) -> tuple[bool, datetime | None]:
    """Whether something said at ``at`` began by now (not in a year still to come, nor before 1900),
    and when, by the words after it (``own``) or before "I" (``when``): a year ("in 2019", "in
    March 2019": its first day; the year it is said in, the turn's time) or how long ago ("three
    years ago"); None if they name neither."""
    if (year := year_said(own) or year_said(when)) is not None:
        if not_yet(year, at):
            return False, None
        y, month = year
        return True, datetime(y, month or 1, 1, tzinfo=UTC) if month or y < at.year else None
    if (ago := _AGO.search(own) or _AGO.search(when)) is not None:
        count = int(ago["n"]) if ago["n"].isdigit() else COUNTS[ago["n"].lower()]
        return True, at - timedelta(days=count * _DAYS[ago["u"].lower()])
    return True, None


def _place(words: list[str]) -> tuple[int, str] | None:
    """The longest known place the capitalised ``words`` begin with ("New York", "St. Louis",
    "the UK", "Rio de Janeiro"), with a country or state after it ("Denver, Colorado"): how many
    words it takes and its text; None if they begin with none, or go on as another name does
    ("Victoria Street", "Mobile development")."""
    places = known_places()
    best: tuple[int, str] | None = None
    for n in range(1, min(len(words), _PLACE_WORDS) + 1):
        if n > 1 and _ENDS_NAME.search(words[n - 2]):
            break  # "Paris, France" is a place and its country, "Rome and Paris" two
        name = " ".join(words[:n]).rstrip(_PUNCT)
        first, *more = words[:n]
        if (first[:1].isupper() or first == "the" and n > 1) and all(
            w[:1].isupper() or w in _PARTICLES for w in more
        ):
            key = name.lower()
            bare = key[4:] if key.startswith("the ") else key
            if {key, plain(key)} & places.cities or {key, bare} & places.regions:
                best = (n, name)
    if best is None:
        return None
    n, home = best
    after = words[n:]
    for m in range(min(len(after), 3), 0, -1):  # "Denver, Colorado", "Tokyo, Japan", "Austin, TX"
        region = " ".join(after[:m]).rstrip(_PUNCT)
        if any(_ENDS_NAME.search(w) for w in after[: m - 1]) or not region[:1].isupper():
            continue
        if region.lower() in places.regions or region in places.codes:
            return n + m, f"{home.rstrip(',')}, {region}"
    nxt = after[0] if after and not _ENDS_NAME.search(words[n - 1]) else ""
    if nxt[:1].isupper():
        return None  # "Victoria Street", "Washington Square": a name that is no place
    if home.lower() in COMMON_WORDS and nxt and nxt.lower().rstrip(_PUNCT) not in _THEN:
        return None  # "I moved to Mobile development": a word, not the city
    return n, home


def favourite_line(m: MemoryRecord) -> str | None:
    """The timeline a favourite the rules wrote is on beside its owner (one per category); else None."""
    category = m.metadata.get("favourite")
    if m.kind is not MemoryKind.PREFERENCE or m.metadata.get("rule") != "favourite" or not category:
        return None
    return FAVOURITE + str(category)


# The texts a diet or an allergy is written as, and its end; the rules that write them.
_DIET_TEXT = re.compile(rf"^The user is (?:no longer )?(?:an? )?(?P<x>{_DIET})\.$", re.I)
_ALLERGY_TEXT = re.compile(
    r"^The user (?:is (?:no longer )?allergic to (?P<x>.+)|outgrew their (?P<y>.+) allergy)\.$"
)
_STATE_RULES = {"identity": "diet", "diet_end": "diet", "allergy": "allergy", "allergy_end": "allergy"}
_STATE_LINES = ("diet:", "allergy:")
# What an allergy's end names as one thing: no clause after it ("peanuts since I was a kid").
_ALLERGEN_END = re.compile(r"[\w'-]+(?:\s+[\w'-]+){0,3}")


def _allergy_key(thing: str) -> str:
    """An allergen as its timeline names it: lower case, its last word singular ("peanuts" and the
    "peanut" of "my peanut allergy" are one; "strawberries", "peaches", "tomatoes" are "strawberry",
    "peach", "tomato")."""
    *words, last = thing.casefold().split() or [""]
    if len(last) > 3 and last.endswith("s") and not last.endswith("ss"):
        if last.endswith("ies") and len(last) > 4:
            last = last[:-3] + "y"
        elif last.endswith(("oes", "ches", "shes", "sses", "xes")):
            last = last[:-2]
        else:
            last = last[:-1]
    return " ".join([*words, last])


def state_line(m: MemoryRecord) -> str | None:
    """The timeline a diet ("The user is vegetarian.") or an allergy the rules wrote is on beside its
    owner, one per diet or allergen, with its end ("The user is no longer vegetarian."): an end
    ends only the diet or allergen it names; else None."""
    return state_of(m.metadata.get("rule"), m.text) if m.kind is MemoryKind.PROFILE else None


def state_of(rule: object, text: str) -> str | None:
    """The diet or allergen ("diet:vegan", "allergy:peanut") that ``text``, written by the rule
    ``rule`` about "The user", states or ends (another speaker's, with their name as "The user":
    :mod:`memoryd.ingest.subjects`); None if it is no diet or allergy the rules wrote."""
    line = _STATE_RULES.get(str(rule))
    if line is None:
        return None
    if line == "diet":
        diet = _DIET_TEXT.match(text)
        return None if diet is None else f"diet:{diet['x'].lower()}"
    allergy = _ALLERGY_TEXT.match(text)
    return None if allergy is None else f"allergy:{_allergy_key(allergy['x'] or allergy['y'])}"


def state_rules(line: str) -> list[str] | None:
    """The rules that write what is on a diet's or an allergy's line (:func:`state_of`); None if
    ``line`` is neither."""
    if not line.startswith(_STATE_LINES):
        return None
    return [rule for rule, said in _STATE_RULES.items() if line.startswith(said + ":")]


def line_filter(line: str) -> dict[str, Any]:
    """What selects the stored memories on a profile attribute's, a favourite's, a diet's or an
    allergy's timeline (:func:`state_line` tells which of a diet's or an allergy's are on it)."""
    if line.startswith(FAVOURITE):
        category = line[len(FAVOURITE) :]
        return {"kind": "preference", "metadata.favourite": category, "metadata.rule": "favourite"}
    if line.startswith(_STATE_LINES):
        attribute = "identity" if line.startswith("diet:") else "allergy"
        return {"kind": "profile", "metadata.attribute": attribute}
    return {"kind": "profile", "metadata.attribute": line}
