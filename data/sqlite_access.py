"""Who may do what, in the SQLite store: API tokens and devices' broker credentials.

Functions take the store's connection and never commit; `SqliteStore` runs each write in a
transaction of its own.
"""

from __future__ import annotations

import aiosqlite

from data.rows import (
    DEVICE_COLUMNS,
    TOKEN_COLUMNS,
    device_from_row,
    device_row,
    placeholders,
    token_from_row,
    token_row,
    updates,
)
from models.access import ApiToken, DeviceCredential

# Schema version 3: access. Secrets are kept only as hashes (see models/access.py).
SCHEMA_V3 = """
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL
);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY, building_id TEXT NOT NULL, password_hash TEXT NOT NULL,
    created_at REAL NOT NULL, revoked_at REAL
);
"""


async def put_token(db: aiosqlite.Connection, token: ApiToken) -> None:
    await db.execute(
        f"INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES ({placeholders(TOKEN_COLUMNS, '?')}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates(TOKEN_COLUMNS, 'id')}",
        token_row(token),
    )


async def token(db: aiosqlite.Connection, token_id: str) -> ApiToken | None:
    async with db.execute(
        f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,)
    ) as cur:
        row = await cur.fetchone()
    return token_from_row(row) if row is not None else None


async def tokens(db: aiosqlite.Connection) -> list[ApiToken]:
    async with db.execute(f"SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id") as cur:
        return [token_from_row(r) async for r in cur]


async def put_device(db: aiosqlite.Connection, device: DeviceCredential) -> None:
    await db.execute(
        f"INSERT INTO devices ({DEVICE_COLUMNS}) VALUES ({placeholders(DEVICE_COLUMNS, '?')}) "
        f"ON CONFLICT (device_id) DO UPDATE SET {updates(DEVICE_COLUMNS, 'device_id')}",
        device_row(device),
    )


async def device(db: aiosqlite.Connection, device_id: str) -> DeviceCredential | None:
    async with db.execute(
        f"SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = ?", (device_id,)
    ) as cur:
        row = await cur.fetchone()
    return device_from_row(row) if row is not None else None


async def devices(db: aiosqlite.Connection) -> list[DeviceCredential]:
    async with db.execute(f"SELECT {DEVICE_COLUMNS} FROM devices ORDER BY device_id") as cur:
        return [device_from_row(r) async for r in cur]
