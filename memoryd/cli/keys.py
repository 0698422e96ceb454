"""``memoryd keys``: create, list and revoke API keys.

Keys live in ``auth.keys_path`` (default ``keys.db`` next to the database), the
same file a running server reads, so a key created here works, and a revoked
one is refused, from the server's next request on. A new key is printed once; only its salted
hash is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from memoryd.auth import Role, create_key, open_key_store
from memoryd.auth.admin import key_id_of, revocation
from memoryd.auth.keys import ApiKey, KeyStore
from memoryd.cli.output import CliState, counted, errors_to_exit, printable
from memoryd.config import DEFAULT_TENANT, Settings
from memoryd.errors import NotFoundError

__all__ = ["app"]

app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True, add_completion=False)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")]


@contextmanager
def _store(settings: Settings) -> Iterator[KeyStore]:
    store = open_key_store(settings)
    try:
        yield store
    finally:
        store.close()


def _reach(key: ApiKey) -> str:
    """The tenant column: an admin key reaches every tenant, its own only the one it acts in
    when a request names none."""
    if key.role is Role.ADMIN:
        return f"every ({printable(key.tenant)} by default)"
    return printable(key.tenant)


def _table(keys: list[ApiKey]) -> Table:
    table = Table("id", "role", "tenant", "user_id", "name", "created", "revoked", box=None)
    for k in keys:
        table.add_row(
            k.id,
            k.role.value,
            escape(_reach(k)),
            escape(printable(k.user_id or "")),
            escape(printable(k.name or "")),
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
        )
    return table


@app.command()
def create(
    ctx: typer.Context,
    role: Annotated[
        Role,
        typer.Option(
            help="admin: everything; service: any user of its tenant; user: one user.", case_sensitive=False
        ),
    ],
    user_id: Annotated[
        str | None, typer.Option("--user-id", "-u", help="The user a `user` key is bound to (required then).")
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(
            help="The tenant (project) the key belongs to (default: the root -t, else default). An admin "
            "key reaches every tenant: this is the one it acts in when a request names none."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="A note to recognise the key by.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a key and print it. It is shown this once: store it now."""
    state = CliState.of(ctx, json_out)
    settings = state.require_settings()
    tenant = state.tenant_of(tenant) or DEFAULT_TENANT  # -t acme keys create: an acme key
    with errors_to_exit(state.output), _store(settings) as store:
        made = create_key(store, role, tenant=tenant, user_id=user_id, name=name)
    if state.output.json_mode:
        state.output.json(made.to_dict())
        return
    state.output.out.print(made.key, markup=False, soft_wrap=True)
    record = made.record
    if record.role is Role.ADMIN:  # never "for tenant acme": it reaches every tenant's memories and keys
        reach = f"for every tenant (acting in {record.tenant!r} when a request names no X-Memoryd-Tenant)"
    else:
        bound = f" bound to user {record.user_id!r}" if record.user_id else ""
        reach = f"for tenant {record.tenant!r}{bound}"
    state.output.note(
        f"{record.role.value} key {record.id} {escape(reach)}; shown once, store it now. "
        "Use it as 'Authorization: Bearer <key>'."
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    tenant: Annotated[
        str | None,
        typer.Option(
            help="Only the keys that reach this tenant: its own and every admin key, which reaches "
            "every tenant (default: the root -t, else every tenant's)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """List keys (never their secrets). An admin key reaches every tenant: a tenant's listing
    shows it too."""
    state = CliState.of(ctx, json_out)
    settings = state.require_settings()
    only = state.tenant_of(tenant)  # -t acme keys list: the keys that reach acme
    if not settings.keys_path().exists():  # a mistyped path: say so, and make nothing there
        state.output.note(f"no key store at {escape(str(settings.keys_path()))} (auth.keys_path) yet: "
                          "`memoryd keys create` makes it")  # fmt: skip
        state.output.emit({"results": []}, "0 keys")
        return
    with errors_to_exit(state.output), _store(settings) as store:
        keys = [k for k in store.list(include_revoked=all_keys) if only is None or _reaches(k, only)]
    listed = [k.to_dict() for k in keys]
    summary = counted(len(keys), "key", "keys")
    admins = sum(k.role is Role.ADMIN for k in keys)
    if only is not None and admins:  # they are acme's too, though made for another (or no) tenant
        summary += f" ({counted(admins, 'admin key', 'admin keys')}, reaching every tenant)"
    state.output.emit({"results": listed}, _table(keys), summary)


def _reaches(key: ApiKey, tenant: str) -> bool:
    """Whether ``key`` acts in ``tenant``: a key of that tenant, or an admin key of any."""
    return key.tenant == tenant or key.role is Role.ADMIN


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: Annotated[
        str,
        typer.Argument(
            metavar="ID", help="The key's id (from `memoryd keys list`), or the key itself (mdk_<id>_...)."
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Revoke a key: it stops working at once (a running server refuses it from its next request on)."""
    state = CliState.of(ctx, json_out)
    settings = state.require_settings()
    key_id = key_id_of(key_id)  # a key's full text: its id, the secret never echoed
    with errors_to_exit(state.output):
        if not settings.keys_path().exists():  # nothing to revoke: no key store made for nothing
            raise NotFoundError(
                f"no API key with id {key_id!r}: there is no key store at {settings.keys_path()} "
                "(auth.keys_path)", field="key_id",
            )  # fmt: skip
        with _store(settings) as store:
            done = revocation(store, key_id)
    state.output.emit(done.to_dict(), done.message)  # a second revoke says when the first was
