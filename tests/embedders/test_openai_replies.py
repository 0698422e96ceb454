"""The ``openai`` embedder against the scripted fake's ``/v1/embeddings`` (tests/fakes/llm_server.py):
what a server that is up but answers badly, slowly or with a limit of its own makes memoryd say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from memoryd import load_settings
from memoryd.cli.doctor import embedder_check
from memoryd.embedders.openai import OpenAIEmbedder
from memoryd.errors import BackendUnavailableError
from tests.fakes.llm_server import Reply, Script, embedding_inputs, embeddings_body, fake_vector

KEY = "sk-loopback-embedder-key-0123456789"


@pytest.fixture
def server(fake_llm_factory: Callable[[], Script]) -> Script:
    """A script of this test's own: a URL no earlier test's embedder learnt a dimension from."""
    script = fake_llm_factory()
    script.embedding_dim = 4
    return script


def _nan(payload: Any) -> Reply:
    count = len(embedding_inputs(payload))
    vectors = ",".join(f'{{"index": {i}, "embedding": [NaN, 1, 1, 1]}}' for i in range(count))
    return Reply(raw=f'{{"data": [{vectors}]}}', headers={"content-type": "application/json"})


def _short(payload: Any) -> Reply:
    return Reply(body=embeddings_body([fake_vector(t, 4) for t in embedding_inputs(payload)][:-1]))


_LOGIN_PAGE = Reply(raw="<html><title>Sign in</title></html>", headers={"content-type": "text/html"})

UNUSABLE = {
    "one vector short": Reply(respond=_short),
    "NaN": Reply(respond=_nan),
    "an error as a 200": Reply(body={"error": {"message": "model not loaded"}}),
    "a login page": _LOGIN_PAGE,
}


@pytest.mark.parametrize("answer", list(UNUSABLE), ids=list(UNUSABLE))
def test_doctor_does_not_ask_whether_a_server_that_answered_is_running(server: Script, answer: str) -> None:
    """A server that answered 200 with vectors that cannot be used was reported with the fix
    'is the embeddings server at … running and reachable?': it is, its answer is the trouble."""
    server.push(UNUSABLE[answer], times=3)
    section = {"provider": "openai", "model": "m", "base_url": server.base_url, "dim": 4}
    check, embedder = embedder_check(load_settings(env={}, overrides={"embedder": section}))
    assert check.status == "fail" and embedder is None
    assert check.fix is not None and "running" not in check.fix and "reachable" not in check.fix, check.fix
    assert server.base_url in check.fix


def test_an_unusable_reply_is_named_with_its_status_and_its_words(server: Script) -> None:
    """A 200 holding an error said only "malformed embeddings reply ('data')"."""
    embedder = OpenAIEmbedder(model="m", base_url=server.base_url, api_key=KEY, dim=4)
    server.reply_body({"error": {"message": f"model not loaded for key {KEY}"}})
    with pytest.raises(BackendUnavailableError) as info:
        embedder.embed(["a"])
    message = info.value.message
    assert "no 'data' field" in message and "model not loaded" in message and "application/json" in message
    assert KEY not in message and info.value.details["status"] == 200
    server.push(_LOGIN_PAGE)
    with pytest.raises(BackendUnavailableError) as page:
        embedder.embed(["a"])
    assert 'an HTML page (text/html): "Sign in"' in page.value.message  # by its title, as the LLM's
    assert "<" not in page.value.message
    server.reply_with(_nan)
    with pytest.raises(BackendUnavailableError, match="not finite") as nan:
        embedder.embed(["a", "b"])
    assert nan.value.details["status"] == 200
    embedder.close()


_BAD_GATEWAY = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title><style>body{x:1}</style></head>\n"
    f"<body><h1>502 Bad Gateway</h1><p>upstream {KEY}</p></body></html>"
)


def test_a_proxys_error_page_is_named_by_its_title(server: Script) -> None:
    """A proxy's 502 page put 300 bytes of its markup (line breaks and all) into the error, where
    the LLM's calls name such a page by its title."""
    embedder = OpenAIEmbedder(model="m", base_url=server.base_url, api_key=KEY, dim=4)
    server.reply_raw(_BAD_GATEWAY, status=502, headers={"content-type": "text/html; charset=utf-8"}, times=3)
    with pytest.raises(BackendUnavailableError) as info:
        embedder.embed(["a"])
    message = info.value.message
    assert message.endswith('HTTP 502: an HTML page (text/html): "502 Bad Gateway"'), message
    assert "<" not in message and "\n" not in message and KEY not in message
    assert info.value.details["status"] == 502
    embedder.close()


def test_a_server_that_never_answers_is_named_as_such_with_the_wait_and_tries(server: Script) -> None:
    """It said "unreachable: timed out": not how long it waited, nor that it tried three times."""
    embedder = OpenAIEmbedder(model="m", base_url=server.base_url, dim=4, timeout_s=0.3)
    server.hang(120, times=3)  # cut short by the next test's reset
    with pytest.raises(BackendUnavailableError) as info:
        embedder.embed(["a"])
    assert "did not answer within 0.3 s (3 of 3 tries)" in info.value.message
    assert "unreachable" not in info.value.message and len(server.requests) == 3
    embedder.close()


@pytest.mark.parametrize("said", ["input must have less than 4 items", "input数组最大不得超过3条"])
def test_a_batch_refused_for_its_number_of_inputs_is_split(server: Script, said: str) -> None:
    """Only some vendors' words for "too many inputs" split a batch; others failed the whole add."""

    def at_most_three(payload: Any) -> Reply:
        if len(embedding_inputs(payload)) > 3:
            return Reply(status=400, body={"error": {"message": said, "code": "1214"}})
        return Reply()  # the usual vectors

    server.default(Reply(respond=at_most_three))
    embedder = OpenAIEmbedder(model="m", base_url=server.base_url, dim=4, batch_size=8)
    vectors = embedder.embed([f"text {i}" for i in range(10)])
    assert vectors.shape == (10, 4)
    sent = [len(r.json["input"]) for r in server.requests]
    assert sent[-1] <= 3 and sum(n for n in sent if n <= 3) == 10
    embedder.close()


def test_a_429_then_an_answer_is_waited_for_and_a_500_is_named(server: Script) -> None:
    embedder = OpenAIEmbedder(model="m", base_url=server.base_url, dim=4)
    server.reply_body({"error": {"message": "slow down"}}, status=429, headers={"retry-after": "0.1"})
    assert embedder.embed(["a", "b"]).shape == (2, 4) and len(server.requests) == 2
    server.reply_body({"error": {"message": "boom"}}, status=500, times=3)
    with pytest.raises(BackendUnavailableError, match="HTTP 500: .*boom") as info:
        embedder.embed(["a"])
    assert info.value.details["status"] == 500 and len(server.requests) == 5
    embedder.close()


@pytest.mark.parametrize(
    ("numbers", "named"),
    [([True, False, 1, 0], "true/false"), (["0.5", "1", "1", "1"], "strings"), ([None, 1, 1, 1], "null")],
)
def test_an_embedding_of_other_things_than_numbers_is_refused(
    server: Script, numbers: list[Any], named: str
) -> None:
    """true/false and numbers written as strings were read as numbers and stored as a vector."""
    embedder = OpenAIEmbedder(model="m", base_url=server.base_url, dim=4)
    server.reply_with(
        lambda payload: Reply(body=embeddings_body([numbers for _ in embedding_inputs(payload)]))
    )
    with pytest.raises(BackendUnavailableError, match=f"embedding holds {named}, not only numbers"):
        embedder.embed(["a"])
    assert embedder.embed(["a"]).shape == (1, 4)  # the next answer, of numbers, is taken
    embedder.close()


def test_a_429_asking_for_a_longer_wait_than_memoryd_waits_says_how_long(server: Script) -> None:
    """It said only "HTTP 429: …", not that the server asked for 120 s, nor that memoryd gave up."""
    embedder = OpenAIEmbedder(model="m", base_url=server.base_url, dim=4)
    server.reply_body({"error": {"message": "quota"}}, status=429, headers={"retry-after": "120"})
    with pytest.raises(BackendUnavailableError) as info:
        embedder.embed(["a"])
    assert "the server asks to wait 120 s, longer than memoryd waits (10 s)" in info.value.message
    assert info.value.details == {"status": 429, "retry_after": 120.0} and len(server.requests) == 1
    embedder.close()


def test_a_server_taking_no_connection_is_named_after_seconds_not_minutes() -> None:
    """A port whose queue of connections is full takes none, as a host dropping packets: each try
    waited the whole minute a batch is given to answer (three minutes in all), then said only
    "unreachable: timed out"."""
    import socket

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(0)
    port = listening.getsockname()[1]
    queued = []
    for _ in range(3):  # fill the queue: later connections are never taken
        waiting = socket.socket()
        waiting.setblocking(False)
        waiting.connect_ex(("127.0.0.1", port))
        queued.append(waiting)
    embedder = OpenAIEmbedder(model="m", base_url=f"http://127.0.0.1:{port}/v1", dim=4)
    try:
        with pytest.raises(BackendUnavailableError) as info:
            embedder.embed(["a"])
    finally:
        embedder.close()
        for sock in [*queued, listening]:
            sock.close()
    assert "unreachable: no connection within 5 s (3 of 3 tries)" in info.value.message
