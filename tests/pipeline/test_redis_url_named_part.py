"""A ``pipeline.redis_url`` that is no Redis URL is refused naming what is wrong with it (its scheme,
its port, its database), besides the form it should take; never its password."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from memoryd.config import PipelineConfig
from memoryd.errors import ConfigError
from memoryd.pipeline.redis_queue import RedisQueue


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:6379/0", "its scheme 'http' is none of redis, rediss and unix"),
        ("notaurl", "it has no scheme"),
        ("redis://127.0.0.1:99999/0", "its port is not a number from 0 to 65535"),
        ("redis://:s3cret@127.0.0.1:63x9/0", "its port is not a number from 0 to 65535"),
        ("redis://127.0.0.1:6379/abc", "its database 'abc' is not a number"),
    ],
)
def test_a_malformed_url_is_refused_naming_the_part_at_fault(url: str, said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        RedisQueue(PipelineConfig(redis_url=SecretStr(url)))
    assert refused.value.field == "pipeline.redis_url"
    assert said in refused.value.message, refused.value.message
    assert "s3cret" not in refused.value.message
