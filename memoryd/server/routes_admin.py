"""``/v1/admin/keys``: API key management over HTTP.

An ``admin`` key manages every key. A ``service`` key may create, list and
revoke ``user`` keys of its own tenant (so an application can hand each of its
users a key bound to them); other keys are invisible to it (404). A ``user``
key gets 403. A new key's text is in the creation response only.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from memoryd.auth import Principal, Role, create_key
from memoryd.auth.admin import key_id_of, revocation
from memoryd.auth.keys import ApiKey
from memoryd.errors import BackendUnavailableError, NotFoundError, PermissionDeniedError
from memoryd.server.access import principal_of
from memoryd.server.auth import Authenticator
from memoryd.server.health import state_of
from memoryd.server.responses import ApiKeyReply, KeyListReply, NewKeyReply, answers
from memoryd.server.routes_v1 import ERROR_RESPONSES, unique_keys

__all__ = ["CreateKeyRequest", "RevokedKeyReply", "router"]

router = APIRouter(
    prefix="/v1/admin", tags=["admin"], responses=ERROR_RESPONSES, dependencies=[Depends(unique_keys)]
)

KeyId = Annotated[str, Path(description="The key's id (the part after mdk_).", max_length=64)]


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["admin", "service", "user"] = Field(description="admin, service or user.")
    tenant: str | None = Field(None, max_length=64, description="Default: the caller's tenant.")
    user_id: str | None = Field(None, max_length=512, description="Required for (and only for) a user key.")
    name: str | None = Field(None, max_length=200, description="A note to recognise the key by.")


class RevokedKeyReply(ApiKeyReply):
    """The revoked key's record, and whether it already was."""

    already_revoked: bool = Field(
        description="True when the key was revoked before: `revoked_at` is that revoke's time."
    )
    message: str | None = Field(
        None, description='Only when `already_revoked`: "key ID was already revoked (at TIME)".'
    )


def _auth(request: Request) -> tuple[Authenticator, Principal]:
    auth = state_of(request).auth
    if auth is None:
        raise BackendUnavailableError("memoryd is starting or shutting down; retry shortly")
    principal = principal_of(request)
    if principal.role is Role.USER:
        raise PermissionDeniedError("a user key cannot manage API keys")
    return auth, principal


def _visible(principal: Principal, key: ApiKey) -> bool:
    return principal.is_admin or (key.tenant == principal.tenant and key.role is Role.USER)


@router.post("/keys", summary="Create an API key", status_code=201, **answers(NewKeyReply, 201))
async def create(body: CreateKeyRequest, request: Request) -> dict[str, Any]:
    """The new key (``key``, shown this once) and its record."""
    auth, principal = _auth(request)
    # The caller's tenant: an admin's is the one it acts in (X-Memoryd-Tenant), else its key's.
    tenant = body.tenant or principal.tenant
    if not principal.is_admin and (body.role != Role.USER or tenant != principal.tenant):
        raise PermissionDeniedError("a service key may only create user keys of its own tenant", field="role")
    made = await asyncio.to_thread(
        create_key, auth.store, body.role, tenant=tenant, user_id=body.user_id, name=body.name
    )
    auth.forget()
    return made.to_dict()


@router.get("/keys", summary="List API keys", **answers(KeyListReply))
async def list_keys(request: Request, include_revoked: bool = False) -> dict[str, Any]:
    """Keys the caller may see (never their secrets)."""
    auth, principal = _auth(request)
    keys = await asyncio.to_thread(auth.store.list, include_revoked=include_revoked)
    return {"results": [k.to_dict() for k in keys if _visible(principal, k)]}


@router.delete("/keys/{key_id}", summary="Revoke an API key", **answers(RevokedKeyReply))
async def revoke(key_id: KeyId, request: Request) -> dict[str, Any]:
    """Revoke at once; the key answers 401 from now on. A key revoked before keeps its
    ``revoked_at``: ``already_revoked`` is then true and ``message`` says since when."""
    auth, principal = _auth(request)
    key_id = key_id_of(key_id)  # a key's full text: its id (its secret never echoed in a 404)
    key = await asyncio.to_thread(auth.store.get, key_id)
    if key is None or not _visible(principal, key):
        raise NotFoundError(f"no API key with id {key_id!r}", field="key_id")
    revoked = await asyncio.to_thread(revocation, auth.store, key_id)
    auth.forget(key_id)
    return revoked.to_dict()
