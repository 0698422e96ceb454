"""``memoryd worker`` without the ``redis`` package: the one error line naming the extra, and no
banner before it (it said "worker consuming chat_log …" and then failed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = shutil.which("memoryd", path=str(Path(sys.executable).parent)) or shutil.which("memoryd")


def test_a_missing_redis_extra_fails_before_the_worker_says_it_consumes(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "redis"  # first on the path: `import redis` fails, as uninstalled
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no redis here (a test)')\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")}
    env = {
        **clean, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "shadow"), clean.get("PYTHONPATH")])),
        "HF_HUB_OFFLINE": "1",
        "MEMORYD_STORAGE__PATH": str(tmp_path / "memoryd.db"), "MEMORYD_ASYNC_PIPELINE": "true",
    }  # fmt: skip
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    done = subprocess.run(
        [SCRIPT, "worker", "--burst"], env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: queue backend 'redis' needs the 'redis' extra: pip install 'memoryd[redis]'"
    ], done.stderr
    assert done.stdout == ""
