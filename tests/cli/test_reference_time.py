"""``memoryd search`` and ``memoryd context`` take ``--reference-time``, the asker's now, as the library
does: "last Sunday" in a replayed conversation is its own Sunday, not the host clock's."""

from __future__ import annotations

from tests.cli.conftest import Run, as_json, expect_error

SUNDAY = "We went kayaking on the lake with my cousins."
EARLIER = "We went to a kayaking shop to look at boats."
QUESTION = "What did we do last Sunday?"
ASKED = "2024-05-08T20:00:00+08:00"  # a Wednesday; last Sunday: 2024-05-05


def _stored(run: Run) -> None:
    for text, when in ((SUNDAY, "2024-05-05T07:00:00+08:00"), (EARLIER, "2024-04-20T10:00:00+00:00")):
        assert run("add", text, "-u", "ana", "--timestamp", when).exit_code == 0


def test_search_reads_last_sunday_against_the_reference_time(run: Run) -> None:
    _stored(run)
    hits = as_json(run("search", QUESTION, "-u", "ana", "--reference-time", ASKED, "--json"))["results"]
    assert [h["memory"] for h in hits][:2] == [SUNDAY, EARLIER]
    explained = as_json(run("search", QUESTION, "-u", "ana", "--reference-time", ASKED, "--explain", "--json"))
    assert explained["results"][0]["explain"]["date_match"] is True


def test_context_dates_turns_in_the_reference_time_offset(run: Run) -> None:
    _stored(run)
    built = as_json(run("context", QUESTION, "-u", "ana", "--reference-time", ASKED, "--json"))
    assert f"(2024-05-05) user: {SUNDAY}" in built["text"]  # UTC's day would be 2024-05-04
    assert built["text"].index(SUNDAY) < built["text"].index(EARLIER)
    human = run("context", QUESTION, "-u", "ana", "--reference-time", ASKED)
    assert human.exit_code == 0 and "(2024-05-05)" in human.stdout


def test_a_bad_reference_time_is_refused_naming_it(run: Run) -> None:
    _stored(run)
    expect_error(run("context", QUESTION, "-u", "ana", "--reference-time", "next blursday"), 2, "--reference-time must be ISO 8601")
    expect_error(run("search", QUESTION, "-u", "ana", "--reference-time", "soon"), 2, "--reference-time must be ISO 8601")
