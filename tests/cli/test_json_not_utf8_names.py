"""A file name that is not UTF-8 (``-c $'conf\\xff.toml'``: Python holds the byte as a lone
surrogate) went into ``--json`` output as the raw byte, so the document was not UTF-8 and no JSON
parser read it. Now such a character is written as a ``\\u`` escape: stdout is UTF-8 and one
JSON document."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = shutil.which("memoryd", path=str(Path(sys.executable).parent)) or shutil.which("memoryd")


def test_a_config_file_name_that_is_not_utf8_keeps_the_json_utf8(tmp_path: Path) -> None:
    assert SCRIPT, "the memoryd console script is not installed (pip install -e .)"
    name = os.fsencode(tmp_path) + b"/conf\xff.toml"
    with open(name, "w", encoding="utf-8") as f:
        f.write(f'[storage]\npath = "{tmp_path / "m.db"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORYD_")} | {"LC_ALL": "C.UTF-8"}
    done = subprocess.run(
        [SCRIPT, "--json", "-c", name, "config", "show"], env=env, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout.decode("utf-8"))  # strict UTF-8: no raw byte
    assert document["config_file"] == os.fsdecode(name)
