"""Assistant knowledge in fast mode: explicit feedback on how the assistant should behave.

:func:`extract_feedback` reads one user message and returns short statements of
what the assistant learned about its own behaviour with this user — "please be
more concise", "don't use emojis", "answer in French", "that was too long",
请简洁一点, 不要用表情符号, 用中文回答, 你说得太复杂了 — as
"The assistant should …" / "助手应该…" statements. They are stored as
``preference`` memories tagged ``metadata.about = "assistant"`` (the tag fine mode's
extraction gives such facts), owned by the user and agent of the conversation.

Conservative, like :mod:`memoryd.ingest.rules`: a request must open its clause
(after "please", "from now on", "can you" and the like), style words come from
fixed lists, and questions, conditionals, requests limited to one answer, task or situation ("for
this one", "in the email to my landlord", "with my mom", "when writing to my boss", "for now") and
reported speech give nothing — including a
request that ends by saying who said it ("Keep it short, said the editor.", "…, my
advisor warned me."), unless that is the user ("…, like I said.").
Pure: no I/O, never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime

from memoryd.ingest.rules import RuleMemory, Statement, draft_rule_memories, unquoted, zh_hedged_before
from memoryd.models import MemoryKind, MemoryRecord
from memoryd.text import straight_apostrophes

__all__ = ["ABOUT_ASSISTANT", "draft_feedback_memories", "extract_feedback"]

ABOUT_ASSISTANT = "assistant"  # metadata.about of assistant knowledge (fine mode uses the same tag)
_MAX_MESSAGE_CHARS = 2000

_CLAUSES = re.compile(r"(?<=[.!;?\n。！；？…])\s*|,\s*(?:but|and|so)\s+|，")
_OPEN = (
    r"^(?:(?:and|but|so|also|oh|ok|okay|hey|well|one more thing|btw)[,:]?\s+)*"
    r"(?:(?:from now on|in (?:the )?future|going forward|next time|in general)[,:]?\s+)?"
    r"(?:(?:can|could|would|will) you\s+)?(?:please[,]?\s+)?(?:(?:always|just|try to)\s+)?"
)
_STYLE_NOUNS = (
    r"emojis?|emoticons|smileys|bullet points|bullets|bullet lists|numbered lists|lists|tables|markdown|"
    r"headings|headers|code blocks|jargon|technical jargon|technical terms|slang|abbreviations|acronyms|"
    r"exclamation (?:marks|points)|swear words|profanity|big words|long words|the passive voice|filler|"
    r"disclaimers|caveats|examples|analogies|metaphors|citations|sources|references|hashtags|all caps|"
    r"capital letters"
)
_LANGS = (
    r"english|french|spanish|german|italian|portuguese|dutch|chinese|mandarin|cantonese|japanese|"
    r"korean|russian|arabic|hindi|turkish|polish|swedish|vietnamese|thai|indonesian|greek|hebrew"
)
_FORMATS = (
    r"bullet points|short sentences|full sentences|one sentence|one paragraph|a single paragraph|"
    r"plain text|markdown|a table|simple words|simple terms|plain language|layman'?s terms|"
    r"(?:plain |simple )?(?:" + _LANGS + r")"
)
_IN_YOUR = r"(?:\s+in your (?:answers|replies|responses|messages))?"
_TONES = (
    r"formal|informal|casual|friendly|polite|direct|blunt|serious|playful|professional|gentle|patient|"
    r"encouraging|honest|specific|precise|critical"
)

Builder = Callable[[re.Match[str]], tuple[str, str] | None]  # -> (statement, polarity)


def _phrase(text: str) -> str:
    return " ".join(text.lower().split()).replace("yourself", "itself")


def _concise(m: re.Match[str]) -> tuple[str, str]:
    return "The assistant should keep its answers concise.", "do"


def _detail(m: re.Match[str]) -> tuple[str, str]:
    return "The assistant should give more detailed answers.", "do"


def _tone(m: re.Match[str]) -> tuple[str, str]:
    more = (m.group("dir") or "more").lower()
    return f"The assistant should be {more} {m.group('x').lower()}.", "do"


def _dont_use(m: re.Match[str]) -> tuple[str, str]:
    return f"The assistant should not use {_phrase(m.group('x'))}.", "dont"


def _use_more(m: re.Match[str]) -> tuple[str, str]:
    return f"The assistant should use {m.group('dir').lower()} {_phrase(m.group('x'))}.", "do"


def _answer_in(m: re.Match[str]) -> tuple[str, str]:
    what = _phrase(m.group("x"))
    what = re.sub(_LANGS, lambda w: w.group().capitalize(), what)
    return f"The assistant should answer in {what}.", "do"


def _stop(m: re.Match[str]) -> tuple[str, str]:
    return f"The assistant should stop {_phrase(m.group('x'))}.", "dont"


_TOO = {
    "long": _concise, "verbose": _concise, "wordy": _concise, "detailed": _concise, "repetitive": _concise,
    "short": _detail, "vague": _detail,
    "formal": lambda m: ("The assistant should be less formal.", "do"),
    "informal": lambda m: ("The assistant should be more formal.", "do"),
    "casual": lambda m: ("The assistant should be more formal.", "do"),
    "technical": lambda m: ("The assistant should use simpler language.", "do"),
    "complicated": lambda m: ("The assistant should use simpler language.", "do"),
    "complex": lambda m: ("The assistant should use simpler language.", "do"),
}  # fmt: skip


def _too(m: re.Match[str]) -> tuple[str, str] | None:
    build = _TOO.get(m.group("x").lower())
    return build(m) if build is not None else None


_EN_RULES: list[tuple[str, re.Pattern[str], Builder]] = [
    (
        "concise",
        re.compile(
            _OPEN + r"(?:be|keep (?:it|things|(?:your |the )?(?:answers|replies|responses|messages)))\s+"
            r"(?:(?:a (?:bit|little)|much|way)\s+)?(?:more\s+)?"
            r"(?:concise|brief|short|shorter|succinct|to the point)\b",
            re.I,
        ),
        _concise,
    ),
    (
        "detail",
        re.compile(
            _OPEN + r"(?:be (?:more )?(?:detailed|thorough)|go into (?:more )?detail|"
            r"give (?:me )?(?:more detailed|longer|fuller) (?:answers|replies|explanations))\b",
            re.I,
        ),
        _detail,
    ),
    ("tone", re.compile(_OPEN + r"be\s+(?:(?P<dir>more|less)\s+)?(?P<x>" + _TONES + r")\b", re.I), _tone),
    (
        "dont_use",
        re.compile(
            _OPEN + r"(?:don'?t|do not|never|stop|quit)\s+(?:using|use|adding|add|putting|put|including|"
            r"include|sending|send)\s+(?:any\s+|so many\s+|too many\s+)?"
            r"(?P<x>" + _STYLE_NOUNS + r")\b" + _IN_YOUR,
            re.I,
        ),
        _dont_use,
    ),
    (
        "no_more",
        re.compile(_OPEN + r"no (?:more )?(?P<x>" + _STYLE_NOUNS + r")\b(?:,?\s*please)?\s*[.!]*$", re.I),
        _dont_use,
    ),
    ("avoid", re.compile(_OPEN + r"avoid\s+(?:using\s+)?(?P<x>" + _STYLE_NOUNS + r")\b", re.I), _dont_use),
    (
        "use_more",
        re.compile(_OPEN + r"use\s+(?P<dir>more|fewer|less)\s+(?P<x>" + _STYLE_NOUNS + r")\b", re.I),
        _use_more,
    ),
    (
        "answer_in",
        re.compile(
            _OPEN
            + r"(?:answer|reply|respond|write|talk|speak)(?: to me)?\s+(?:only\s+)?in\s+(?P<x>"
            + _FORMATS
            + r")\b",
            re.I,
        ),
        _answer_in,
    ),
    (
        "stop",
        re.compile(
            _OPEN + r"(?:stop|quit)\s+(?P<x>apologi[sz]ing|saying sorry|repeating (?:yourself|the question)|"
            r"asking (?:me )?(?:so many |follow-up )?questions|summari[sz]ing|over-?explaining|"
            r"explaining the basics|being so formal|flattering me)\b",
            re.I,
        ),
        _stop,
    ),
    (
        "too",
        re.compile(
            _OPEN + r"(?:you(?:'re| are)(?: being)?|(?:that|this|your) (?:answers?|replies|reply|responses?|"
            r"messages?|explanations?) (?:are|were|is|was))\s+"
            r"(?:(?:way|much|a bit|a little|far|really)\s+)?too\s+(?P<x>\w+)\b",
            re.I,
        ),
        _too,
    ),
]

# The words the English rules above start with after _OPEN ("be", "keep", "don't", "no", "you're",
# "that answer", ...): a clause none follows _OPEN in matches none of them, and is tried against one
# pattern instead of ten.
_EN_ANY = re.compile(
    _OPEN + r"(?:be|keep|go|give|do|never|stop|quit|no|avoid|use|answer|reply|respond|write|talk|speak|"
    r"you|that|this)",
    re.I,
)
_HAN = re.compile(r"[\u4e00-\u9fff]")

_ZH_OPEN = (
    r"^(?:以后|今后|下次|从现在开始|从今以后)?[，,]?(?:请|麻烦)?(?:你)?(?:以后)?"
    r"(?:能不能|可不可以|可以|能)?"
)
_ZH_STYLE = (
    r"表情符号|表情包|表情|emoji|颜文字|列表|项目符号|表格|markdown|术语|专业术语|缩写|英文单词|感叹号|网络用语|"
    r"脏话|比喻|例子"
)
_ZH_LANG = (
    r"中文|汉语|普通话|英文|英语|日语|日文|法语|德语|韩语|粤语|繁体字|简体字|繁体中文|简体中文|"
    r"西班牙语"
)
_ZH_SHORTER = "助手应该回答得更简洁。"
_ZH_SIMPLER = "助手应该用更简单的话解释。"
_ZH_LONGER = "助手应该回答得更详细。"
_ZH_TOO = {
    "长": _ZH_SHORTER, "啰嗦": _ZH_SHORTER, "啰唆": _ZH_SHORTER,
    "复杂": _ZH_SIMPLER, "专业": _ZH_SIMPLER, "难懂": _ZH_SIMPLER,
    "正式": "助手应该更随意一些。", "简单": _ZH_LONGER, "短": _ZH_LONGER,
}  # fmt: skip
_ZH_RULES: list[tuple[str, re.Pattern[str], Builder]] = [
    (
        "concise",
        re.compile(
            _ZH_OPEN + r"(?:回答|回复|说话|说|讲|写)?得?(?:再|更)?(?:简洁|简短|简练|短)(?:一)?(?:点|些)"
        ),
        lambda m: (_ZH_SHORTER, "do"),
    ),
    (
        "detail",
        re.compile(_ZH_OPEN + r"(?:回答|回复|说|讲|解释)?得?(?:再|更)?(?:详细|具体)(?:一)?(?:点|些)"),
        lambda m: (_ZH_LONGER, "do"),
    ),
    (
        "tone",
        re.compile(
            _ZH_OPEN + r"(?:说话|回答|语气)?(?:再|更)?"
            r"(?P<x>正式|随意|礼貌|友好|直接|耐心|幽默|客气)(?:一)?(?:点|些)"
        ),
        lambda m: (f"助手应该更{m.group('x')}一些。", "do"),
    ),
    (
        "dont_use",
        re.compile(
            _ZH_OPEN + r"(?:(?:不要|别|不许|不能)(?:再)?(?:用|使用|加|发|带)|不用|不再用)"
            r"(?P<x>" + _ZH_STYLE + r")",
            re.I,
        ),
        lambda m: (f"助手不应使用{m.group('x')}。", "dont"),
    ),
    (
        "answer_in",
        re.compile(
            _ZH_OPEN + r"(?:用|以)(?P<x>" + _ZH_LANG + r")(?:来)?(?:回答|回复|跟我说|和我说|交流|聊天|写)"
        ),
        lambda m: (f"助手应该用{m.group('x')}回答。", "do"),
    ),
    (
        "stop",
        re.compile(_ZH_OPEN + r"(?:不要|别)(?:再|总是|老是)?(?P<x>道歉|说对不起|重复|反问|问我问题)"),
        lambda m: (f"助手不应{m.group('x')}。", "dont"),
    ),
    (
        "too",
        re.compile(
            r"^(?:你(?:的)?(?:回答|回复)?|(?:回答|回复))(?:说|讲|写)?得?太(?P<x>长|啰嗦|啰唆|复杂|专业|难懂|正式|简单|短)了"
        ),
        lambda m: (_ZH_TOO[m.group("x")], "do"),
    ),
]

_SPEECH = (
    r"said|says|told|tells|warned|warns|asked|asks|insisted|insists|added|adds|replied|replies|wrote|"
    r"writes|advised|advises|suggested|suggests|reminded|reminds|explained|explains|urged|urges|"
    r"ordered|orders|recommended|recommends|instructed|instructs|shouted|yelled|whispered|noted|notes"
)
_WORD = r"[\w'’-]+"
# A clause that ends by saying who said it: ", said the editor." / ", my advisor warned me."
_REPORTED = re.compile(
    r",[\"”’']?\s*(?:(?:" + _SPEECH + r")\b(?:\s+" + _WORD + r"){1,4}"
    r"|(?P<who>" + _WORD + r"(?:\s+" + _WORD + r"){0,3})\s+(?:" + _SPEECH + r")\b"
    r"(?:\s+(?:me|us|him|her|them|you|so|to|once|again|too|yesterday|today)\b){0,3})"
    r"\s*[.!…\"”’']*\s*$",
    re.I,
)
_OWN_WORDS = re.compile(  # ... but the user's own: ", like I said", ", as I told you"
    r"(?:as |like )?(?:i|we)(?:['’]ve|['’]d)?(?:\s+(?:already|just|always|also|have|had|did|once))*", re.I
)
_ZH_HEDGE = re.compile(r"如果|假如|要是|为什么|为啥|他说|她说|他们说|可能|也许|是不是")
_ZH_ASKED = re.compile(r"[吗呢么][。！.!]?$")  # a question without its question mark
_ZH_POLITE = re.compile(r"(?:请问)?(?:你|您)?(?:能不能|可不可以|能|可以|会不会)")  # a request, asked
_TASKS = (
    r"answer|reply|response|message|e-?mail|letter|text|post|note|draft|essay|report|document|summary|"
    r"translation|question|conversation|chat|speech|presentation|slides?|card|caption|tweet|article|toast"
)
# What follows a request and limits it to one answer, one task or one situation: then it is no
# standing rule ("for this one", "in the email to my landlord", "with my mom", "when writing to ...").
_LIMITED = re.compile(
    r"\b(?:(?:this|that|the next) (?:time|once|one|" + _TASKS + r")|just once|for now|for the moment|"
    r"right now|today|tonight|(?:in|for|on) (?:the|my|his|her|their|our) (?:" + _TASKS + r")|"
    r"(?:with|to|for) (?:my|his|her|their|our)|when|whenever|if|unless|until|while)\b",
    re.I,
)
_POLITE_QUESTION = re.compile(r"^(?:\w+[,]?\s+)?(?:can|could|would|will) you\b", re.I)


def _match(
    clause: str, rules: Sequence[tuple[str, re.Pattern[str], Builder]], limited: re.Pattern[str] | None = None
) -> Statement | None:
    """The statement of the first rule ``clause`` matches; None when it matches none, or when what
    follows the request matches ``limited`` (it asks for one answer or situation only)."""
    for name, pattern, build in rules:
        found = pattern.search(clause)
        if found is None:
            continue
        if limited is not None and limited.search(clause, found.end()):
            return None
        built = build(found)
        if built is None:
            return None
        text, polarity = built
        meta = {"preference": "explicit", "about": ABOUT_ASSISTANT, "polarity": polarity}
        return Statement(text, MemoryKind.PREFERENCE, f"feedback:{name}", meta)
    return None


def _reported(clause: str) -> bool:
    """Whether an English clause ends by saying someone other than the user said it."""
    found = _REPORTED.search(clause)
    if found is None:
        return False
    who = found.group("who")
    return who is None or _OWN_WORDS.fullmatch(who) is None


def extract_feedback(text: str, role: str | None = "user") -> list[Statement]:
    """What one user message asks of the assistant's behaviour (never raises)."""
    if role not in (None, "user") or not isinstance(text, str):
        return []
    out: list[Statement] = []
    seen: set[str] = set()
    try:
        text = unquoted(text[:_MAX_MESSAGE_CHARS])  # someone's words, or text to work on
        text = straight_apostrophes(text)  # "Don’t" as phone keyboards type it
        edges = [(m.start(), m.end()) for m in _CLAUSES.finditer(text)]
        for start, end in zip([0, *(e for _, e in edges)], [*(b for b, _ in edges), len(text)], strict=True):
            clause = text[start:end].strip()
            if not clause:
                continue
            if _HAN.search(clause):
                asked = ("？" in clause or "?" in clause or _ZH_ASKED.search(clause) is not None) and (
                    _ZH_POLITE.match(clause) is None  # "你能不用表情符号吗？" asks for it
                )
                hedged = asked or _ZH_HEDGE.search(clause) or zh_hedged_before(text, start)
                found = None if hedged else _match(clause, _ZH_RULES)
            elif _EN_ANY.match(clause) is None:
                found = None  # no rule can match
            elif ("?" in clause and not _POLITE_QUESTION.search(clause)) or _reported(clause):
                found = None
            else:
                found = _match(clause, _EN_RULES, _LIMITED)
            if found is not None and found.text not in seen:
                seen.add(found.text)
                out.append(found)
    except (ValueError, IndexError):  # pragma: no cover - defensive: extraction is best effort
        return out
    return out


def draft_feedback_memories(episodes: Sequence[MemoryRecord], now: datetime) -> list[RuleMemory]:
    """Assistant-knowledge memories from the user episodes of one add (one per distinct text),
    owned like every derived memory by the episodes' user/agent."""
    return draft_rule_memories(episodes, now, extract_feedback)
