"""The Store contract of access records (API tokens, device credentials), run against every
backend, and the schema migrations to them."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from data import Store, open_store
from data.postgres_schema import migrations
from data.sqlite import SCHEMA_VERSION
from models.access import ApiToken, DeviceCredential, Role


def token(token_id: str = "t1", *, created_at: float = 10.0, **changes: object) -> ApiToken:
    base = ApiToken(
        id=token_id,
        name="li.wei",
        role=Role.MANAGER,
        secret_sha256="ab" * 32,
        created_at=created_at,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def device(device_id: str = "dev-1", **changes: object) -> DeviceCredential:
    base = DeviceCredential(
        device_id=device_id,
        building_id="hall",
        password_hash="$7$101$c2FsdA==$aGFzaA==",
        created_at=5.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_a_token_round_trips(store: Store) -> None:
    assert await store.token("t1") is None
    await store.put_token(token())
    assert await store.token("t1") == token()
    assert (await store.token("t1") or token()).role is Role.MANAGER


async def test_putting_a_token_again_replaces_it(store: Store) -> None:
    await store.put_token(token())
    revoked = token(revoked_at=99.5)
    await store.put_token(revoked)
    assert await store.token("t1") == revoked
    assert not revoked.active
    assert await store.tokens() == [revoked]


async def test_tokens_come_oldest_first_revoked_included(store: Store) -> None:
    late = token("t-late", created_at=30.0, role=Role.ADMIN)
    early = token("t-early", created_at=1.0, role=Role.VIEWER, revoked_at=2.0)
    middle = token("t-mid", created_at=20.0, name="ops-wall-3")
    for t in (late, early, middle):
        await store.put_token(t)
    assert await store.tokens() == [early, middle, late]


async def test_no_tokens_is_an_empty_list(store: Store) -> None:
    assert await store.tokens() == []
    assert await store.devices() == []


async def test_a_device_round_trips_and_is_replaced(store: Store) -> None:
    assert await store.device("dev-1") is None
    await store.put_device(device())
    assert await store.device("dev-1") == device()
    rotated = device(password_hash="$7$101$bmV3$bmV3", revoked_at=None, created_at=7.0)
    await store.put_device(rotated)
    assert await store.device("dev-1") == rotated
    revoked = replace(rotated, revoked_at=8.0)
    await store.put_device(revoked)
    assert await store.device("dev-1") == revoked
    assert not revoked.active


async def test_devices_come_ordered_by_id_revoked_included(store: Store) -> None:
    for d in (device("gw-roof"), device("climate-2f", revoked_at=3.0), device("gw-2f")):
        await store.put_device(d)
    assert [d.device_id for d in await store.devices()] == ["climate-2f", "gw-2f", "gw-roof"]
    assert await store.device("climate-2f") == device("climate-2f", revoked_at=3.0)


async def test_tokens_and_devices_survive_reopening(store_url: str) -> None:
    async with open_store(store_url) as store:
        await store.put_token(token())
        await store.put_device(device())
    async with open_store(store_url) as store:
        assert await store.tokens() == [token()]
        assert await store.devices() == [device()]


# The version 2 SQLite schema, reduced to what the migration to version 3 touches.
_V2 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (2);
CREATE TABLE channels (
    key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, sensor_id TEXT NOT NULL,
    metric TEXT NOT NULL, unit TEXT NOT NULL
);
"""


async def test_sqlite_version_2_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as db:
        db.executescript(_V2)
    db.close()
    async with open_store(f"sqlite:///{path}") as store:
        await store.put_token(token())
        await store.put_device(device())
    with sqlite3.connect(path) as db:
        (version,) = db.execute("SELECT version FROM schema_version").fetchone()
    db.close()
    assert version == SCHEMA_VERSION == 3
    async with open_store(f"sqlite:///{path}") as store:
        assert await store.tokens() == [token()]


async def test_postgres_version_4_database_is_migrated(postgres_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        await conn.execute(
            "CREATE TABLE schema_migrations "
            "(version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, statements in migrations(timescale=False):
            if version <= 4:
                await conn.execute(statements.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                )
    async with open_store(postgres_url) as store:
        await store.put_token(token())
        assert await store.tokens() == [token()]
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cur = await conn.execute("SELECT max(version) FROM schema_migrations")
        assert (await cur.fetchone()) == (5,)


@pytest.mark.parametrize("role", list(Role))
async def test_every_role_round_trips(store: Store, role: Role) -> None:
    await store.put_token(token(role=role))
    assert (await store.token("t1")) == token(role=role)
