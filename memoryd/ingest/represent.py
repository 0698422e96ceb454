"""How a memory is represented to the indexes: its keyword terms and its vector.

A turn is indexed with who said it and, optionally, with the turn before it
in the same conversation:

- "Melanie: I painted that lake sunrise" is what the embedder sees and what
  BM25 counts, so "When did Melanie paint a sunrise?" finds Melanie's turn
  rather than one that only mentions her;
- an answer is indexed with the question it answers ("Tim: How did it feel to
  seal the deal?" before "John: It felt crazy…"), so a question about "sealing
  the deal" finds the answer, not only the question. The turn's vector is its
  own embedding plus ``context_weight`` times the previous turn's (re-normalised),
  and its BM25 terms can include the previous turn's (``context_terms``).

Each turn is embedded once, on its own; mixing reuses those vectors. The
memory's own text is never changed; only its index representation is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from memoryd.config import IndexConfig
from memoryd.models import MemoryRecord, Message
from memoryd.text import tokenize

__all__ = ["INDEX_FORMAT", "EpisodeIndex", "PendingIndex", "Represent", "turn_line"]

# Bumped whenever the keyword terms of a text change (tokenizer, stemming, what is indexed):
# a store records the format it was built with; an older store's terms are made again when
# it opens (memoryd.maintenance.terms), a newer one is refused.
# 5: Thai, Lao, Khmer, Myanmar... runs as their two-letter pieces; Korean words also without their particle.
# 4: accents folded too ("cafe" finds "Café"); CJK runs also as their two-character pieces.
# 3: words keep their combining marks (Devanagari, Arabic, Hebrew); İ is i.
INDEX_FORMAT = "5"

Embed = Callable[[Sequence[str]], Awaitable[np.ndarray]]


def turn_line(text: str, speaker: str | None) -> str:
    """One turn as "Speaker: text" (just the text when there is no speaker)."""
    speaker = speaker.strip() if speaker else None
    return f"{speaker}: {text}" if speaker else text


@dataclass(frozen=True)
class EpisodeIndex:
    """Vectors and BM25 terms of the new episodes of one add call, in ``plan.new`` order."""

    vectors: np.ndarray
    terms: list[list[str]]


class Represent:
    """Builds index representations from the ``[index]`` settings."""

    def __init__(self, config: IndexConfig) -> None:
        self.config = config

    @property
    def uses_context(self) -> bool:
        return self.config.context_weight > 0 or self.config.context_terms

    def line(self, memory: MemoryRecord) -> str:
        return turn_line(memory.text, memory.actor if self.config.speaker else None)

    def message_line(self, message: Message) -> str:
        return turn_line(message.content, message.name if self.config.speaker else None)

    def terms(self, memory: MemoryRecord, previous: str | None = None) -> list[str]:
        """BM25 terms: this turn's (with its speaker), then the previous turn's if enabled."""
        terms = tokenize(self.line(memory))
        if self.config.context_terms and previous and len(previous) <= self.config.context_max_chars:
            terms += tokenize(previous)
        return terms

    def start(
        self, messages: Sequence[Message], before: str | None, embed: Embed, *, session: bool = True
    ) -> PendingIndex:
        """Index the messages of one add call, in two steps: the embedding of every message is
        asked for now (an ``embed`` that hands the model its work at once, on a thread, lets
        the caller work meanwhile: look up duplicates, draft rules), then
        :meth:`PendingIndex.result` computes the terms of the new episodes while the model runs
        and picks and mixes their vectors.

        Context applies only within a session (``session``: the add call names a
        ``run_id``): ``before`` is the turn stored just before this call in it. Every
        message of the call is embedded once (plus ``before``); a turn's vector mixes in
        its predecessor's.
        """
        return PendingIndex(self, messages, before, embed, session)


class PendingIndex:
    """An :class:`EpisodeIndex` being computed (see :meth:`Represent.start`)."""

    def __init__(
        self,
        represent: Represent,
        messages: Sequence[Message],
        before: str | None,
        embed: Embed,
        session: bool,
    ) -> None:
        self.represent = represent
        lines = [represent.message_line(m) for m in messages]
        context = session and represent.uses_context
        self.previous: list[str | None] = [before, *lines[:-1]] if context else [None] * len(lines)
        self.weight = represent.config.context_weight if context else 0.0
        self.before = before if self.weight > 0 else None
        self.n_lines = len(lines)
        texts = lines + ([self.before] if self.before else [])
        self.vectors: asyncio.Future[np.ndarray] | None = (
            asyncio.ensure_future(embed(texts)) if texts else None
        )
        if self.vectors is not None:  # a caller that gives up early leaves no unread error behind
            self.vectors.add_done_callback(lambda f: f.cancelled() or f.exception())

    def cancel(self) -> None:
        """Nothing new to index after all (every message was a duplicate)."""
        if self.vectors is not None:
            self.vectors.cancel()

    async def result(self, positions: Sequence[int], memories: Sequence[MemoryRecord]) -> EpisodeIndex:
        """The index of the new episodes ``memories``: message ``positions[i]`` of the call."""
        if self.vectors is None or not memories:
            self.cancel()
            return EpisodeIndex(np.zeros((0, 0), dtype=np.float32), [])
        try:
            pairs = zip(memories, positions, strict=True)
            terms = [self.represent.terms(m, self.previous[p]) for m, p in pairs]
            vectors = await self.vectors
        finally:
            self.cancel()  # a no-op once done; else nobody waits for it any more
        if self.weight > 0:
            n = self.n_lines
            own = vectors[:n]
            prev_vec = np.vstack([vectors[n:] if self.before else np.zeros_like(own[:1]), own[:-1]])
            mixed = own + self.weight * prev_vec
            mixed /= np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)
            chosen = mixed[list(positions)]
        else:
            chosen = vectors[list(positions)]
        return EpisodeIndex(np.asarray(chosen, dtype=np.float32), terms)
