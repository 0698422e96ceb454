"""API keys without HTTP: format, hashing at rest, the shared store, rate limits, the user view."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from memoryd import load_settings
from memoryd.auth import Role, create_key, open_key_store, revoke_key
from memoryd.auth.bound import FORBIDDEN, UserBoundMemory
from memoryd.auth.keys import parse_key
from memoryd.auth.principal import check_tenant
from memoryd.auth.ratelimit import RateLimiter
from memoryd.errors import AuthenticationError, InvalidInputError, NotFoundError, RateLimitedError
from memoryd.memory import AsyncMemory


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})
    s = open_key_store(settings)
    yield s
    s.close()


def test_key_is_shown_once_and_stored_only_as_a_salted_hash(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    made = create_key(store, "user", user_id="alice", name="phone")
    key_id, secret = parse_key(made.key)
    assert key_id == made.record.id and made.key.startswith("mdk_")
    raw = (tmp_path / "keys.db").read_bytes()
    assert secret.encode() not in raw and made.key.encode() not in raw
    stored = store.get(key_id)
    assert stored is not None and stored.matches(secret) and not stored.matches(secret + "x")
    assert stored.principal().user_id == "alice" and stored.role is Role.USER
    other = create_key(store, "user", user_id="alice")
    assert other.record.salt != made.record.salt  # same kind of key, different salt


def test_revoked_keys_leave_the_active_list(store) -> None:  # type: ignore[no-untyped-def]
    a = create_key(store, "admin")
    b = create_key(store, "service", tenant="acme")
    assert store.count() == 2
    revoke_key(store, a.record.id)
    assert [k.id for k in store.list()] == [b.record.id]
    assert {k.id for k in store.list(include_revoked=True)} == {a.record.id, b.record.id}
    assert (store.count(), store.count(include_revoked=True)) == (1, 2)
    with pytest.raises(NotFoundError):
        revoke_key(store, "000000000000")


@pytest.mark.parametrize(
    ("role", "user_id", "field"),
    [("user", None, "user_id"), ("service", "bob", "user_id"), ("root", None, "role")],
)
def test_bad_key_requests_name_the_field(store, role: str, user_id: str | None, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError) as err:
        create_key(store, role, user_id=user_id)
    assert err.value.field == field


@pytest.mark.parametrize(
    "text", ["", "mdk_", "sk-123", "mdk_XYZ_secret", "mdk_0123456789ab_", "abc_0123456789ab_s"]
)
def test_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(AuthenticationError):
        parse_key(text)


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a" * 65, "x y", "../etc"])
def test_tenant_names_cannot_escape_their_directory(name: str) -> None:
    with pytest.raises(InvalidInputError):
        check_tenant(name)


def test_token_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 3, clock=lambda: now[0])
    for _ in range(3):
        limiter.take("k")
    with pytest.raises(RateLimitedError) as err:
        limiter.take("k")
    assert err.value.retry_after_s == pytest.approx(0.5)
    assert err.value.http_headers() == {"Retry-After": "1"}
    limiter.take("other")  # buckets are per key
    now[0] = 0.5
    limiter.take("k")  # one token back after 1/rate seconds
    with pytest.raises(RateLimitedError):
        limiter.take("k")
    RateLimiter(0, 1).take("k")  # rate 0: no limit


def test_the_user_view_covers_every_call_of_the_memory() -> None:
    public = {
        name
        for name, fn in inspect.getmembers(AsyncMemory, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    wrapped = {name for name, _ in inspect.getmembers(UserBoundMemory, inspect.iscoroutinefunction)}
    assert public - wrapped - FORBIDDEN == set(), "a new AsyncMemory call needs a user-bound version"
    assert not FORBIDDEN & wrapped


def test_doctor_says_whether_keys_are_required(tmp_path: Path) -> None:
    from memoryd.cli.doctor import auth_check

    settings = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")}})
    check = auth_check(settings)
    assert check.status == "ok" and check.detail.startswith("off")
    assert not (tmp_path / "keys.db").exists()  # a probe creates nothing
    public = load_settings(env={}, overrides={"storage": {"path": str(tmp_path / "m.db")},
                                               "server": {"host": "0.0.0.0"}})  # fmt: skip
    check = auth_check(public)
    assert check.status == "warn" and check.fix == "memoryd keys create --role admin"
    store = open_key_store(settings)
    made = create_key(store, "admin")
    store.close()
    check = auth_check(settings)
    assert check.status == "ok" and check.data["keys"] == 1
    store = open_key_store(settings)
    revoke_key(store, made.record.id)
    store.close()
    check = auth_check(settings)  # the server stays closed: every request would be refused
    assert check.status == "warn" and "1 key created, all revoked" in check.detail
