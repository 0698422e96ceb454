"""``memoryd doctor``: each row it reports as a problem (warn or fail) says how to fix it. The store
row left unopened because another check failed (a storage.path that is a folder, an embedder that
did not load, a backend that does not answer) said only "(see above)", with no fix; it now names
the check whose fix to apply."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli.conftest import Run, as_json


def _closed_port() -> int:
    with socket.socket() as s:  # bound, never listened on, then released: nothing answers there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("broken", ["folder", "embedder", "qdrant"])
def test_every_problem_doctor_reports_says_how_to_fix_it(run: Run, tmp_path: Path, broken: str) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    env = {
        "folder": {"MEMORYD_STORAGE__PATH": str(tmp_path)},
        "embedder": {"MEMORYD_EMBEDDER__PROVIDER": "openai", "MEMORYD_EMBEDDER__BASE_URL": f"{url}/v1",
                     "MEMORYD_EMBEDDER__MODEL": "m"},
        "qdrant": {"MEMORYD_STORAGE__VECTORS": "qdrant", "MEMORYD_STORAGE__QDRANT__URL": url},
    }[broken]  # fmt: skip
    done = run("doctor", "--json", env=env)
    assert done.exit_code == 1, done.stderr
    problems = [c for c in as_json(done)["checks"] if c["status"] in ("warn", "fail")]
    store = next(c for c in problems if c["name"] == "store")
    assert store["status"] == "warn" and store["detail"].startswith("not opened")
    blocker = {"folder": "sqlite", "embedder": "embedder", "qdrant": "backend:vectors"}[broken]
    assert f"the {blocker} check" in store["fix"] and blocker in {c["name"] for c in problems}
    assert all(c["fix"] for c in problems), [c for c in problems if not c["fix"]]
