"""Who may do what, in the PostgreSQL store: API tokens and devices' broker credentials.

Functions take a connection and leave the transaction to the caller.
"""

from __future__ import annotations

from typing import Any

import psycopg

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

Connection = psycopg.AsyncConnection[Any]


async def put_token(conn: Connection, token: ApiToken) -> None:
    await conn.execute(
        f"INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES ({placeholders(TOKEN_COLUMNS, '%s')}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates(TOKEN_COLUMNS, 'id')}",
        token_row(token),
    )


async def token(conn: Connection, token_id: str) -> ApiToken | None:
    cur = await conn.execute(f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = %s", (token_id,))
    row = await cur.fetchone()
    return token_from_row(row) if row is not None else None


async def tokens(conn: Connection) -> list[ApiToken]:
    cur = await conn.execute(f"SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id")
    return [token_from_row(r) for r in await cur.fetchall()]


async def put_device(conn: Connection, device: DeviceCredential) -> None:
    await conn.execute(
        f"INSERT INTO devices ({DEVICE_COLUMNS}) VALUES ({placeholders(DEVICE_COLUMNS, '%s')}) "
        f"ON CONFLICT (device_id) DO UPDATE SET {updates(DEVICE_COLUMNS, 'device_id')}",
        device_row(device),
    )


async def device(conn: Connection, device_id: str) -> DeviceCredential | None:
    cur = await conn.execute(
        f"SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = %s", (device_id,)
    )
    row = await cur.fetchone()
    return device_from_row(row) if row is not None else None


async def devices(conn: Connection) -> list[DeviceCredential]:
    cur = await conn.execute(f"SELECT {DEVICE_COLUMNS} FROM devices ORDER BY device_id")
    return [device_from_row(r) for r in await cur.fetchall()]
