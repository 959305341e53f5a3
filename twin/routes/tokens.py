"""API tokens over the API, for admins: list, issue (the secret is shown once), revoke.

The same as `twin tokens add|list|revoke` on the server, for an admin elsewhere.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from models.access import ApiToken, Role
from twin.access import require
from twin.auth import issue_token, revoke_token
from twin.deps import Context
from twin.schemas import iso

router = APIRouter(
    prefix="/api/v1/tokens", tags=["access"], dependencies=[Depends(require(Role.ADMIN))]
)


class TokenCreate(BaseModel):
    name: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
            description="who holds it: a person (li.wei) or a screen (ops-wall-3)",
        ),
    ]
    role: Role


class TokenPublic(BaseModel):
    """A token's record; its secret is never shown again."""

    id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> TokenPublic:
        return cls(
            id=t.id,
            name=t.name,
            role=t.role,
            created_at=iso(t.created_at),
            revoked_at=iso(t.revoked_at) if t.revoked_at is not None else None,
        )


class TokenIssued(TokenPublic):
    token: Annotated[str, Field(description="send as Authorization: Bearer; shown only now")]


@router.get("")
async def list_tokens(context: Context) -> list[TokenPublic]:
    """Every token, revoked ones included, oldest first."""
    return [TokenPublic.of(t) for t in await context.store.tokens()]


@router.post("", status_code=201)
async def create_token(body: TokenCreate, context: Context) -> TokenIssued:
    """Issue a token; the answer carries its secret, which the twin does not keep. Tokens
    live on the wall clock, not the demo's simulated one."""
    record, plaintext = await issue_token(context.store, body.name, body.role, time.time())
    return TokenIssued(**TokenPublic.of(record).model_dump(), token=plaintext)


@router.delete("/{token_id}")
async def revoke(token_id: str, context: Context) -> TokenPublic:
    """Revoke a token at once; revoking it again changes nothing."""
    record = await revoke_token(context.store, token_id, time.time())
    if record is None:
        raise HTTPException(404, f"no token {token_id!r}; GET /api/v1/tokens lists them")
    return TokenPublic.of(record)
