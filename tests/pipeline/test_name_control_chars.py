"""``pipeline.group`` and ``pipeline.consumer`` (and ``worker --group`` / ``--consumer``) holding a
control character (a line break, an escape sequence) are refused, naming the setting or option:
the names go into the worker's log lines as written, where a line break forged a log line of its own
and an escape sequence recoloured or erased the terminal's. Before, they were taken."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from memoryd import load_settings
from memoryd.errors import ConfigError
from tests.pipeline.conftest import PipelineCli


@pytest.mark.parametrize(
    "name", ["w1\nINFO worker w2: processed 10", "w\x1b[2Kx", "w\x00", "w\u202ex", "w\u0085"]
)
@pytest.mark.parametrize("field", ["consumer", "group"])
def test_a_name_with_a_control_character_is_refused_at_load(field: str, name: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env={}, overrides={"pipeline": {field: name}})
    assert refused.value.field == f"pipeline.{field}" and "control character" in refused.value.message
    with pytest.raises(ConfigError) as from_env:
        load_settings(env={f"MEMORYD_PIPELINE__{field.upper()}": name})
    assert from_env.value.field == f"pipeline.{field}"


def test_printable_names_are_taken() -> None:
    settings = load_settings(env={}, overrides={"pipeline": {"consumer": "host-1 w/2 Zoë", "group": "g:1"}})
    assert (settings.pipeline.consumer, settings.pipeline.group) == ("host-1 w/2 Zoë", "g:1")


def test_the_worker_refuses_such_a_name_on_its_command_line(pipeline_cli: Callable[..., PipelineCli]) -> None:
    cli = pipeline_cli(PIPELINE__BLOCK_MS="100")
    for option in ("--consumer", "--group"):
        for command in (("worker", "--burst"), ("worker", "--check")):
            ran = cli.run(*command, option, "w1\nforged line")
            assert ran.exit_code in (1, 2), ran.stdout + ran.stderr
            assert option in ran.stderr and "control character" in ran.stderr, ran.stderr
            assert "worker consuming" not in ran.stdout + ran.stderr
