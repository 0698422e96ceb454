"""A relation the model names with no letter or digit ("!!!", "—") or between entities so named
("...") passed extraction and was then skipped by the graph without a word: the add said nothing,
its turn was marked done. It is now refused with the answer's other unusable items, said in
``llm.incomplete``, and the turn stays due."""

from __future__ import annotations

from memoryd import AsyncMemory
from memoryd.models import Scope
from tests.fakes.llm_server import Script


def _relation(source: str, relation: str, target: str) -> dict[str, object]:
    return {"source": source, "relation": relation, "target": target, "fact": 0}


async def test_relations_named_without_letters_are_refused_and_said(fine: AsyncMemory, fake_llm: Script) -> None:
    fake_llm.reply_json(
        {
            "facts": [{"text": "Alice works at Acme", "sources": [0]}],
            "relations": [
                _relation("Alice", "works_at", "Acme"),
                _relation("Alice", "!!!", "Acme"),
                _relation("...", "knows", "Bob"),
                _relation("Alice", "knows", "—"),
            ],
        }
    )
    fake_llm.reply_json({"decisions": []})
    out = await fine.add("I work at Acme", user_id="alice", mode="fine")
    assert out.llm is not None and out.llm.incomplete is not None
    assert "3 extracted facts or relations were refused" in out.llm.incomplete
    assert "no letter or digit" in out.llm.incomplete
    stored = await fine.storage.graph.relations(Scope(user_id="alice"))  # type: ignore[union-attr]
    assert [(r.source.name, r.relation, r.target.name) for r in stored] == [("Alice", "works_at", "Acme")]
