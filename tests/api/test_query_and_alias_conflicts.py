"""Requests that name one thing twice over real HTTP: a query parameter repeated, or the text of
mem0's update under two of its names. Either is refused naming the field and changes nothing,
never read as one of the two."""

from __future__ import annotations

import httpx

from tests.api.conftest import add, count, error_of


def test_a_query_parameter_given_twice_is_refused_naming_it_and_deletes_nothing(client: httpx.Client) -> None:
    add(client, "I am Ana and I like tea", user_id="ana")
    add(client, "I am Bob and I like coffee", user_id="bob")
    for method, url, field in [
        ("DELETE", "/v1/memories?user_id=ana&user_id=bob", "user_id"),
        ("DELETE", "/memories?user_id=ana&user_id=bob", "user_id"),
        ("GET", "/v1/memories?user_id=ana&user_id=bob", "user_id"),
        ("GET", "/memories?user_id=ana&limit=1&limit=50", "limit"),
        ("GET", "/v1/memories?user_id=ana&offset=0&offset=1", "offset"),
        ("GET", "/v1/users/ana/tree?episodes=1&episodes=2", "episodes"),
    ]:
        error = error_of(client.request(method, url), 422)
        assert error["field"] == field and "more than once" in error["message"], (url, error)
    assert count(client, user_id="ana") == 1 and count(client, user_id="bob") == 1
    # Each name once (an empty pair names nothing) is read as before.
    assert client.get("/v1/memories?user_id=ana&&limit=5").json()["total"] >= 1
