"""A compressed request body (``Content-Encoding``) is refused with 415 naming the header, before
anything reads it: it was read as if plain (a gzip body refused as "not UTF-8", a plain body
labelled ``br`` stored as it was)."""

from __future__ import annotations

import gzip
import json

import httpx

from tests.api.conftest import count, error_of

BODY = json.dumps({"messages": "I keep bees on the roof", "user_id": "alice"}).encode()


def test_a_compressed_body_is_refused_naming_content_encoding(client: httpx.Client) -> None:
    for path in ("/v1/memories", "/memories"):
        for coding, body in (("gzip", gzip.compress(BODY)), ("br", BODY), ("identity, gzip", BODY)):
            headers = {"content-type": "application/json", "content-encoding": coding}
            response = client.post(path, content=body, headers=headers)
            error = error_of(response, 415)
            assert error["field"] == "Content-Encoding", error
            assert response.headers["accept-encoding"] == "identity"
    assert count(client, user_id="alice") == 0  # nothing was stored


def test_a_plain_body_labelled_identity_is_read(client: httpx.Client) -> None:
    headers = {"content-type": "application/json", "content-encoding": "identity"}
    assert client.post("/v1/memories", content=BODY, headers=headers).status_code == 200
    assert count(client, user_id="alice") >= 1
