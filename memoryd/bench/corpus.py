"""Deterministic synthetic chat-like text for the benchmarks: no dataset files.

:func:`sentences` yields things a user might tell an assistant ("My sister Ana
moved to Porto in March and now works as a nurse at a clinic near the river"),
:func:`queries` yields questions about such things. Both are seeded, distinct
within one call, 8–30 words long (queries 4–16), and drawn from a few hundred
names, places, foods, jobs, hobbies, objects and numbers, so keyword and vector
search see a realistic spread of term frequencies. The same seed gives the same
texts on every machine and Python version (only :class:`random.Random` is used).
"""

from __future__ import annotations

import random
import re

__all__ = ["MAX_WORDS", "MIN_WORDS", "queries", "sentences", "vary"]

MIN_WORDS = 8
MAX_WORDS = 30

_W: dict[str, list[str]] = {
    "name": """Alice Bob Carlos Dana Elena Farid Grace Hiro Ines Jamal Kenji Lena Marco Nadia Omar Priya
        Quentin Rosa Sven Tara Umar Vera Wei Ximena Yusuf Zoe Amara Bruno Chloe Diego Emil Fatima Gustav
        Hana Ivan Julia Kofi Lucia Mateo Nora Olga Pavel Rania Sofia Tomas Ugo Valentina Wanda Yara Zane
        Aiko Bilal Camille Dmitri Esther Felix Giulia Hugo Isla Joon""".split(),
    "rel": """sister brother mother father cousin aunt uncle neighbour colleague boss friend roommate
        grandmother grandfather partner wife husband son daughter niece nephew teacher doctor""".split(),
    "place": """Lisbon Porto Madrid Berlin Munich Paris Lyon Rome Milan Naples Vienna Prague Warsaw Krakow
        Oslo Bergen Stockholm Helsinki Dublin Edinburgh London Leeds Toronto Montreal Seattle Denver Austin
        Chicago Boston Lima Bogota Santiago Nairobi Lagos Cairo Istanbul Athens Tbilisi Dubai Mumbai Delhi
        Bangalore Singapore Jakarta Manila Seoul Osaka Kyoto Sapporo Sydney Melbourne Auckland
        Reykjavik""".split(),
    "food": """pasta sushi ramen tacos curry dumplings paella risotto falafel hummus pho bibimbap lasagne
        croissants pancakes waffles oatmeal granola burritos kimchi tofu salmon lentils quinoa couscous
        gnocchi pierogi empanadas ceviche shakshuka baklava tiramisu cheesecake brownies mango avocado
        blueberries espresso matcha""".split(),
    "hobby": """hiking climbing cycling running swimming rowing chess pottery painting knitting gardening
        baking photography birdwatching surfing skiing snowboarding yoga boxing fencing archery sailing
        kayaking fishing origami calligraphy woodworking juggling podcasting blogging drumming singing
        dancing tango salsa crosswords sudoku astronomy beekeeping""".split(),
    "job": """nurse teacher engineer designer plumber lawyer chef pilot architect accountant pharmacist
        librarian journalist electrician dentist translator barista carpenter mechanic veterinarian
        firefighter photographer programmer researcher""".split(),
    "thing": """bicycle laptop guitar camera tent kayak piano violin scooter drone telescope backpack
        notebook passport umbrella blender kettle sofa bookshelf aquarium printer headphones watch
        jacket boots suitcase microscope""".split(),
    "pet": "dog cat parrot rabbit hamster turtle goldfish pony ferret gecko".split(),
    "month": """January February March April May June July August September October November
        December""".split(),
    "day": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "adj": """old new red blue green cheap expensive tiny huge quiet noisy broken shiny vintage
        electric wooden second-hand borrowed""".split(),
    "lang": """Portuguese Spanish German French Italian Japanese Korean Mandarin Arabic Swahili Greek
        Turkish Hindi Polish Dutch Norwegian""".split(),
    "org": """clinic bakery startup museum library school hospital bank theatre gym studio
        warehouse newspaper university garage brewery""".split(),
    "feel": "love enjoy hate avoid miss prefer adore dislike".split(),
}

_CLAUSES = [
    "{name} moved to {place} in {month} and now works as a {job} at a {org}",
    "my {rel} {name} is allergic to {food} so we always order {food2} instead",
    "I bought a {adj} {thing} for {num} euros on {day} after {name} recommended it",
    "{name} and I went {hobby} near {place} last {month} with her {pet}",
    "I {feel} {food} but my {rel} only eats {food2} on {day}s",
    "remind me that the appointment with Dr {name} is on {day} {month} {dom} at {hour} o'clock",
    "I have been learning {lang} for {small} years and practise with {name} every {day}",
    "our {pet} {name} is {small} years old and sleeps on the {adj} {thing}",
    "{name} says the {org} in {place} is hiring a {job} who speaks {lang}",
    "my flight to {place} leaves on {month} {dom} and I still need a new {thing}",
    "I started {hobby} in {place} because my {rel} kept talking about it",
    "the rent for the flat in {place} went up to {big} dollars a month",
    "{name} lent me her {adj} {thing} and I promised to return it by {day}",
    "I usually drink {food} before {hobby} and eat {food2} afterwards",
    "my {rel} works as a {job} in {place} and visits us every {month}",
    "I want to cook {food} for {name}'s birthday party on {month} {dom}",
    "last {day} I lost my {thing} somewhere between the {org} and the station",
    "{name} thinks {hobby} is boring but loves {hobby2} and watching films about {place}",
]
_TAILS = [
    "because {name} said it was worth it",
    "and it cost about {num} euros",
    "which I still find a bit strange",
    "so please keep that in mind next time",
    "although the weather in {place} was terrible",
    "while my {rel} stayed at home with the {pet}",
    "and {name} wants to join us next {month}",
    "but only if the {org} is open on {day}",
    "after a long week at the {org}",
    "together with {name} from the {hobby} club",
]
_QUESTIONS = [
    "where does {name} live now",
    "what food is my {rel} allergic to",
    "how much did the {adj} {thing} cost",
    "when is the appointment with Dr {name}",
    "which language am I learning with {name}",
    "what is the name of our {pet}",
    "who recommended the {thing} to me",
    "when does my flight to {place} leave",
    "what does my {rel} do for a living in {place}",
    "why did I start {hobby}",
    "how much is the rent in {place}",
    "what did {name} lend me last {day}",
    "what should I cook for {name}'s birthday",
    "where did I lose my {thing}",
    "does {name} like {hobby} or {hobby2}",
    "which {org} in {place} is hiring a {job}",
    "what do I eat after {hobby}",
    "when does my {rel} visit us",
    "do I {feel} {food}",
    "what happened in {place} in {month}",
]
_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, rng: random.Random) -> str:
    chosen: dict[str, str] = {}

    def pick(match: re.Match[str]) -> str:
        slot = match.group(1)
        if slot == "num":
            return str(rng.randint(2, 999))
        if slot == "small":
            return str(rng.randint(2, 19))
        if slot == "big":
            return str(rng.randint(400, 4999))
        if slot == "hour":
            return str(rng.randint(7, 19))
        if slot == "dom":
            return str(rng.randint(1, 28))
        base = slot.rstrip("2")
        word = rng.choice(_W[base])
        while slot != base and word == chosen.get(base):  # "{food} ... {food2}" differ
            word = rng.choice(_W[base])
        chosen[base] = word
        return word

    return _SLOT.sub(pick, template)


def _sentence(rng: random.Random) -> str:
    words = _fill(rng.choice(_CLAUSES), rng).split()
    while len(words) < MIN_WORDS or (len(words) < MAX_WORDS - 8 and rng.random() < 0.45):
        words += _fill(rng.choice(_TAILS), rng).split()
    words = words[:MAX_WORDS]
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct chat-like statements, 8–30 words each, the same for the same seed."""
    rng = random.Random(f"memoryd-corpus-{seed}")
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        text = _sentence(rng)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def queries(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct questions over the same vocabulary as :func:`sentences`."""
    rng = random.Random(f"memoryd-queries-{seed}")
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        text = _fill(rng.choice(_QUESTIONS), rng)
        if rng.random() < 0.3:
            text += " " + _fill(rng.choice(["in {month}", "last {day}", "with {name}", "near {place}"]), rng)
        text = text[0].upper() + text[1:] + "?"
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def vary(text: str, n: int) -> str:
    """A distinct variant of ``text`` for bulk-loaded tiers: a number token appended."""
    return f"{text.rstrip('.')} (note {n})."
