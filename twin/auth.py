"""API tokens: issued, checked and revoked against the store.

A token is ``twin_{id}_{secret}``: the id finds its record, the secret proves it. Only the
SHA-256 of the secret is kept (the secret is 32 random bytes, so a slow hash buys nothing),
and the comparison takes constant time. Nothing here knows about HTTP frameworks: the API's
guard (`twin.access`) and the web viewer's gate both call `authorize` with the request's
headers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import replace
from http.cookies import CookieError, SimpleCookie

from data import Store
from models.access import ApiToken, Role, check_name

PREFIX = "twin_"
# Set by the browser pages (``/viewer?token=...``) so a browser need not send a header.
COOKIE = "twin_token"
HOW_TO_GET_ONE = (
    "send Authorization: Bearer <token>; `twin tokens add NAME --role viewer` makes one "
    "(browsers: open /viewer?token=<token> once)"
)


class AccessDenied(Exception):
    """No valid token (status 401) or a token whose role is too low (403)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token(name: str, role: Role, now: float) -> tuple[ApiToken, str]:
    """A fresh token's record and its plaintext, which is shown once and never stored."""
    check_name("token name", name)
    token_id = secrets.token_hex(5)  # hex: never contains the "_" that ends the id
    secret = secrets.token_urlsafe(32)
    record = ApiToken(
        id=token_id, name=name, role=Role(role), secret_sha256=_digest(secret), created_at=now
    )
    return record, f"{PREFIX}{token_id}_{secret}"


async def issue_token(store: Store, name: str, role: Role, now: float) -> tuple[ApiToken, str]:
    """Store a new token; returns its record and the plaintext to hand to its holder."""
    record, plaintext = new_token(name, role, now)
    await store.put_token(record)
    return record, plaintext


async def revoke_token(store: Store, token_id: str, now: float) -> ApiToken | None:
    """Revoke a token (at once, for every process sharing the store); None if unknown.
    Revoking twice keeps the first time."""
    record = await store.token(token_id)
    if record is None or not record.active:
        return record
    revoked = replace(record, revoked_at=now)
    await store.put_token(revoked)
    return revoked


def split_token(text: str) -> tuple[str, str] | None:
    """(id, secret) of ``twin_{id}_{secret}``, or None when it is not shaped like one."""
    if not text.startswith(PREFIX):
        return None
    token_id, sep, secret = text.removeprefix(PREFIX).partition("_")
    if not sep or not token_id or not secret:
        return None
    return token_id, secret


async def verify(store: Store, plaintext: str) -> ApiToken:
    """The active token ``plaintext`` is; AccessDenied(401) for anything else."""
    parts = split_token(plaintext.strip())
    if parts is None:
        raise AccessDenied(401, f"that is not a twin token (twin_<id>_<secret>): {HOW_TO_GET_ONE}")
    record = await store.token(parts[0])
    # The digest is compared even for an unknown id, so both take the same time.
    expected = record.secret_sha256 if record is not None else "0" * 64
    if not hmac.compare_digest(_digest(parts[1]), expected) or record is None:
        raise AccessDenied(401, f"unknown token: {HOW_TO_GET_ONE}")
    if not record.active:
        raise AccessDenied(401, f"token {record.id} ({record.name}) was revoked: {HOW_TO_GET_ONE}")
    return record


def presented(headers: Mapping[str, str]) -> str | None:
    """The token a request carries: ``Authorization: Bearer`` first, else the cookie. An
    Authorization header that is not a bearer token is returned as it is, to be refused."""
    header = headers.get("authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        return value.strip() if scheme.lower() == "bearer" else header
    try:
        cookies = SimpleCookie(headers.get("cookie", ""))
    except CookieError:
        return None
    morsel = cookies.get(COOKIE)
    return morsel.value if morsel is not None else None


async def authenticate(store: Store, header: str | None) -> ApiToken:
    """The token of an ``Authorization`` header value; AccessDenied(401) when there is none
    or it is not valid."""
    return await authorize(store, {"authorization": header} if header else {}, None)


async def authorize(store: Store, headers: Mapping[str, str], needed: Role | None) -> ApiToken:
    """The request's token, if it may do what ``needed`` allows (any role when None);
    AccessDenied otherwise: 401 without a valid token, 403 when its role is too low."""
    plaintext = presented(headers)
    if plaintext is None:
        raise AccessDenied(401, f"this needs an API token: {HOW_TO_GET_ONE}")
    record = await verify(store, plaintext)
    if needed is not None and not record.role.allows(needed):
        raise AccessDenied(403, refusal(record, needed))
    return record


def refusal(record: ApiToken, needed: Role) -> str:
    return (
        f"this needs the {needed.value} role; token {record.id} ({record.name}) is "
        f"{record.role.value}: ask an admin for one (`twin tokens add NAME --role {needed.value}`)"
    )
