"""What ``memoryd add`` stores of each message: its speaker and its own time, as given; and the
configuration errors a user meets first, each one line and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Run, as_json, expect_error


def _listed(run: Run, user: str) -> dict[str, dict[str, object]]:
    listed = run("list", "-u", user, "--json")
    assert listed.exit_code == 0, listed.stderr
    return {m["text"]: m for m in as_json(listed)["results"]}


def test_a_message_at_the_epoch_keeps_its_own_time(run: Run, tmp_path: Path) -> None:
    """timestamp 0 is 1970-01-01, not "no timestamp" (it took the call's time, or created_at's)."""
    path = tmp_path / "chat.jsonl"
    lines = [
        {"role": "user", "content": "said at the epoch", "timestamp": 0},
        {"content": "zero wins over created_at", "timestamp": 0, "created_at": "2023-03-03T00:00:00Z"},
        {"role": "user", "content": "created_at when no timestamp", "created_at": "2023-03-03T00:00:00Z"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    added = run("add", "--file", str(path), "-u", "ana", "--timestamp", "2024-05-01T00:00:00Z")
    assert added.exit_code == 0, added.stderr
    stored = _listed(run, "ana")
    assert stored["said at the epoch"]["event_time"] == "1970-01-01T00:00:00+00:00"
    assert stored["zero wins over created_at"]["event_time"] == "1970-01-01T00:00:00+00:00"
    assert stored["created_at when no timestamp"]["event_time"] == "2023-03-03T00:00:00+00:00"


def test_a_speaker_name_is_stored_without_padding(run: Run, tmp_path: Path) -> None:
    """A name padded with spaces is the speaker Ana (an actor filter finds her); "" is no speaker."""
    path = tmp_path / "chat.jsonl"
    lines = [
        {"role": "user", "content": "padded name", "name": "  Ana "},
        {"role": "user", "content": "empty name", "name": ""},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert run("add", "--file", str(path), "-u", "ana").exit_code == 0
    stored = _listed(run, "ana")
    assert stored["padded name"]["actor"] == "Ana"
    assert stored["empty name"]["actor"] is None
    found = as_json(run("list", "-u", "ana", "--filters", '{"actor": "Ana"}', "--json"))["results"]
    assert [m["text"] for m in found] == ["padded name"]


def test_a_name_that_is_not_utf8_is_refused_as_input(run: Run, tmp_path: Path) -> None:
    """A lone surrogate in a name reached the embedder and came back as a backend failure."""
    path = tmp_path / "chat.jsonl"
    path.write_text('{"role": "user", "content": "hi", "name": "Ana\\ud800"}\n')
    result = run("add", "--file", str(path), "-u", "ana", "--json")
    expect_error(result, 1, "messages[0].name is not valid UTF-8 text")
    assert as_json(result)["error"]["code"] == "invalid_input"


def test_a_config_file_that_is_not_utf8_is_one_line(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "memoryd.toml"
    bad.write_bytes(b"[search]\n# caf\xe9\n")
    for args in (("list", "-u", "ana"), ("config", "show")):
        expect_error(run("--config", str(bad), *args), 2, "line 2 is not UTF-8 text")
    expect_error(run("--config", str(tmp_path), "config", "show"), 2, "cannot read config file")


def test_conflicting_variables_are_one_line(run: Run) -> None:
    result = run("config", "show", env={"MEMORYD_STORAGE": "x"})
    expect_error(result, 2, "MEMORYD_STORAGE and MEMORYD_STORAGE__PATH conflict")
    doctor = run("doctor", "--json", env={"MEMORYD_STORAGE": "x"})
    assert doctor.exit_code == 1 and "Traceback" not in doctor.stderr
    checks = {c["name"]: c for c in as_json(doctor)["checks"]}
    assert checks["config"]["status"] == "fail"


def test_doctor_reports_a_directory_it_cannot_create_files_in(run: Run) -> None:
    """os.access lets root "write" to /proc; creating the probe file fails there: a failed check,
    not a traceback."""
    result = run("doctor", "--json", env={"MEMORYD_STORAGE__PATH": "/proc/memoryd-doctor-test.db"})
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code == 1, (result.stdout, result.stderr)
    checks = {c["name"]: c for c in as_json(result)["checks"]}
    assert checks["sqlite"]["status"] == "fail"


def test_files_with_a_byte_order_mark_are_read(run: Run, tmp_path: Path) -> None:
    """Notepad and PowerShell start UTF-8 files with a BOM: the messages and settings are still read."""
    listed = tmp_path / "chat.json"
    listed.write_bytes(b'\xef\xbb\xbf[{"role": "user", "content": "from a JSON list"}]')
    lines = tmp_path / "chat.jsonl"
    lines.write_bytes(b'\xef\xbb\xbf{"role": "user", "content": "from JSON lines"}\n')
    for path in (listed, lines):
        added = run("add", "--file", str(path), "-u", "ana")
        assert added.exit_code == 0, added.stderr
    assert set(_listed(run, "ana")) == {"from a JSON list", "from JSON lines"}
    config = tmp_path / "memoryd.toml"
    config.write_bytes(b"\xef\xbb\xbf[search]\ndefault_limit = 3\n")
    shown = run("--config", str(config), "config", "show", "--json")
    assert shown.exit_code == 0, shown.stderr
    doc = as_json(shown)
    assert doc["settings"]["search"]["default_limit"] == 3
    assert doc["sources"]["search.default_limit"] == f"file {config}"


def test_threshold_help_says_what_it_compares(run: Run) -> None:
    """--threshold is a floor on the cosine (as the API and README say), not on the score shown."""
    for text in ("I adopted a golden retriever named Biscuit", "The quarterly report is due on Friday"):
        assert run("add", text, "-u", "ana").exit_code == 0
    found = run("search", "my dog", "-u", "ana", "--threshold", "0.2", "--explain", "--json")
    hits = as_json(found)["results"]
    assert hits and all(h["explain"]["dense_cosine"] >= 0.2 for h in hits)
    shown = run("search", "--help", env={"COLUMNS": "200"}).stdout
    assert "cosine" in " ".join(shown.split())
