"""The README's LLM provider examples are real configs: each one loads and builds a router."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from memoryd.config import load_settings
from memoryd.llm import VENDORS, build_router

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## LLM providers", 1)[1].split("\n## ", 1)[0]
EXAMPLES = re.findall(
    r"^\[llm\].*?(?=^\[llm\]|\Z)", re.search(r"```toml\n(.*?)```", SECTION, re.S).group(1), re.S | re.M
)  # type: ignore[union-attr]


def test_every_vendor_has_an_example_and_a_table_row() -> None:
    providers = {tomllib.loads(e)["llm"]["provider"] for e in EXAMPLES}
    assert providers == set(VENDORS)
    for name in VENDORS:
        assert f"| `{name}`" in SECTION


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: tomllib.loads(e)["llm"]["provider"])
def test_each_example_loads_and_builds(example: str, tmp_path: Path) -> None:
    f = tmp_path / "llm.toml"
    f.write_text(example)
    settings = load_settings(f, env={})
    assert settings.llm.configured
    router = build_router(settings, env={})
    assert router is not None and router.targets[0].provider == settings.llm.provider


def test_the_tiers_example_and_env_json_load(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", SECTION, re.S)
    tiers = next(b for b in blocks if "tiers = [" in b)
    f = tmp_path / "tiers.toml"
    f.write_text(tiers)
    router = build_router(load_settings(f, env={}), env={})
    assert router is not None and [len(t) for t in router.tiers] == [1, 2]
    env_json = re.search(r"MEMORYD_LLM_TIERS='(.*?)'", SECTION).group(1)  # type: ignore[union-attr]
    router = build_router(load_settings(env={"MEMORYD_LLM_TIERS": env_json}), env={})
    assert router is not None and len(router.tiers) == 2
