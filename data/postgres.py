"""The PostgreSQL store (psycopg 3 + psycopg_pool), with TimescaleDB features when present.

Readings go in by binary COPY on a blocking connection in a worker thread
(``data/pg_writer.py``), where a redelivered reading is a no-op and, on plain PostgreSQL,
the 1-minute and 1-hour rollups are kept in the same transaction. Everything else uses an
asyncio pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from data import postgres_access, postgres_alerts
from data.pg_batch import ReadingBatch
from data.pg_writer import SET_UTC, ReadingWriter
from data.postgres_schema import migrations
from data.rows import SENSOR_COLUMNS, building_from_row, sensor_from_row, sensor_values
from data.store import Bucket, StoreError, Summary, UnknownChannelError
from models.access import ApiToken, DeviceCredential
from models.alerting import (
    AlertEvent,
    Delivery,
    Escalation,
    Incident,
    IncidentState,
    Subscription,
)
from models.types import (
    Alert,
    AlertState,
    Building,
    Channel,
    DeadLetter,
    Reading,
    WaveformBlock,
)

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x7477696E  # "twin": one advisory lock id for schema changes


class PostgresStore:
    """`Store` on PostgreSQL, opened with ``async with PostgresStore(url) as store``."""

    def __init__(
        self, url: str, *, max_connections: int = 4, connect_timeout_s: float = 10
    ) -> None:
        self.url = url
        self.timescale = False
        self._connect_timeout_s = connect_timeout_s
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            configure=self._configure,
            timeout=connect_timeout_s,
        )
        self._writer = ReadingWriter(
            url, max_connections=max_connections, connect_timeout_s=connect_timeout_s
        )
        self._channel_keys: dict[str, int] = {}

    @staticmethod
    async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(SET_UTC)
        await conn.commit()

    async def __aenter__(self) -> Self:
        try:
            await self._pool.open(wait=True, timeout=self._connect_timeout_s)
        except PoolTimeout as exc:
            await self._pool.close()
            raise StoreError(f"cannot connect to PostgreSQL at {_safe(self.url)}: {exc}") from exc
        try:
            await self._migrate()
            await self._load_channel_keys()
            await asyncio.to_thread(self._writer.open)
        except BaseException:
            await self._pool.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self._writer.close)
        await self._pool.close()

    async def _migrate(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                self.timescale = await _try_timescale(conn)
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                await conn.commit()
                cur = await conn.execute("SELECT version FROM schema_migrations")
                done = {row[0] for row in await cur.fetchall()}
                for version, statements in migrations(self.timescale):
                    if version in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(statements.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                        )
                    log.info("applied schema migration %d", version)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
                await conn.commit()
        async with self._pool.connection() as conn:
            # A plain table (not a continuous aggregate) means this writer keeps the rollups.
            cur = await conn.execute(
                "SELECT 1 FROM pg_class WHERE relname = 'readings_1m' AND relkind = 'r'"
            )
            self._writer.rollups = await cur.fetchone() is not None

    async def _load_channel_keys(self) -> None:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT id, key FROM channels")
            self._channel_keys = {cid: key for cid, key in await cur.fetchall()}

    def _key(self, channel_id: str) -> int:
        try:
            return self._channel_keys[channel_id]
        except KeyError:
            raise UnknownChannelError(f"channel {channel_id!r} is not registered") from None

    # -- registry ---------------------------------------------------------------------------

    async def ping(self) -> None:
        async with self._pool.connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")

    async def put_building(self, building: Building) -> None:
        lo, hi = building.bounds
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO buildings VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO "
                "UPDATE SET name = excluded.name, address = excluded.address, "
                "structure_type = excluded.structure_type, noise_zone = excluded.noise_zone, "
                "bounds = excluded.bounds, model = excluded.model",
                (
                    building.id,
                    building.name,
                    building.address,
                    building.structure_type,
                    building.noise_zone,
                    json.dumps([list(lo), list(hi)]),
                    building.model,
                ),
            )
            for ordinal, s in enumerate(building.sensors):
                await conn.execute(
                    "INSERT INTO sensors (ordinal, id, building_id, kind, device_id, floor, zone, "
                    "x, y, z, nx, ny, nz, expected_interval_s) VALUES (%s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                    "building_id = excluded.building_id, "
                    "ordinal = excluded.ordinal, kind = excluded.kind, "
                    "device_id = excluded.device_id, floor = excluded.floor, zone = excluded.zone,"
                    " x = excluded.x, y = excluded.y, z = excluded.z, nx = excluded.nx, "
                    "ny = excluded.ny, nz = excluded.nz, "
                    "expected_interval_s = excluded.expected_interval_s",
                    (ordinal, *sensor_values(s, building.id)),
                )
                for ch in s.channels:
                    await conn.execute(
                        "INSERT INTO channels (id, sensor_id, metric, unit) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (id) DO UPDATE SET unit = excluded.unit",
                        (ch.id, s.id, ch.metric, ch.unit),
                    )
        await self._load_channel_keys()

    async def buildings(self) -> list[Building]:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT id FROM buildings ORDER BY id")
            ids = [row[0] for row in await cur.fetchall()]
        found = [await self.building(i) for i in ids]
        return [b for b in found if b is not None]

    async def building(self, building_id: str) -> Building | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, name, address, structure_type, noise_zone, bounds, model "
                "FROM buildings WHERE id = %s",
                (building_id,),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            cur = await conn.execute(
                "SELECT c.sensor_id, c.metric, c.unit FROM channels c JOIN sensors s "
                "ON s.id = c.sensor_id WHERE s.building_id = %s ORDER BY c.key",
                (building_id,),
            )
            channels: dict[str, list[Channel]] = {}
            for sensor_id, metric, unit in await cur.fetchall():
                channels.setdefault(sensor_id, []).append(Channel(sensor_id, metric, unit))
            cur = await conn.execute(
                f"SELECT {SENSOR_COLUMNS} FROM sensors WHERE building_id = %s ORDER BY ordinal",
                (building_id,),
            )
            sensors = [sensor_from_row(r, channels.get(r[0], ())) for r in await cur.fetchall()]
        return building_from_row(row, row[5], sensors)

    # -- readings ---------------------------------------------------------------------------

    async def write_readings(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        keys = self._channel_keys
        try:
            batch = ReadingBatch.of(
                [keys[r.channel_id] for r in readings],
                [r.time for r in readings],
                [r.value for r in readings],
            )
        except KeyError as exc:
            raise UnknownChannelError(f"channel {exc.args[0]!r} is not registered") from None
        return await asyncio.to_thread(self._writer.write, batch)

    async def readings(
        self, channel_id: str, start: float, end: float, *, limit: int = 10_000
    ) -> list[Reading]:
        key = self._key(channel_id)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT extract(epoch FROM time)::float8, value FROM readings "
                "WHERE channel_id = %s AND time >= to_timestamp(%s) AND time < to_timestamp(%s) "
                "ORDER BY time LIMIT %s",
                (key, start, end, limit),
            )
            return [Reading(channel_id, t, v) for t, v in await cur.fetchall()]

    async def series(
        self, channel_id: str, start: float, end: float, bucket: Bucket, *, limit: int = 10_000
    ) -> list[Summary]:
        if bucket is Bucket.RAW:
            raw = await self.readings(channel_id, start, end, limit=limit)
            return [Summary(r.time, 1, r.value, r.value, r.value) for r in raw]
        table = sql.Identifier(f"readings_{bucket.value}")
        width = "minute" if bucket is Bucket.MINUTE else "hour"
        query = sql.SQL(
            "SELECT extract(epoch FROM bucket)::float8, n, total / n, min, max FROM {} "
            "WHERE channel_id = %s AND bucket >= date_trunc({}, to_timestamp(%s)) "
            "AND bucket < to_timestamp(%s) ORDER BY bucket LIMIT %s"
        ).format(table, sql.Literal(width))
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, (self._key(channel_id), start, end, limit))
            return [Summary(t, int(n), m, lo, hi) for t, n, m, lo, hi in await cur.fetchall()]

    async def write_waveforms(self, blocks: Sequence[WaveformBlock]) -> int:
        if not blocks:
            return 0
        async with self._pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO waveforms VALUES (%s, %s, to_timestamp(%s), %s, %s) "
                "ON CONFLICT DO NOTHING",
                [(b.sensor_id, b.axis, b.t0, b.rate_hz, list(b.samples)) for b in blocks],
            )
            return max(cur.rowcount, 0)

    async def waveforms(
        self, sensor_id: str, start: float, end: float, *, limit: int = 100
    ) -> list[WaveformBlock]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT axis, extract(epoch FROM t0)::float8, rate_hz, samples FROM waveforms "
                "WHERE sensor_id = %s AND t0 >= to_timestamp(%s) AND t0 < to_timestamp(%s) "
                "ORDER BY t0, axis LIMIT %s",
                (sensor_id, start, end, limit),
            )
            return [
                WaveformBlock(sensor_id, axis, t0, rate, tuple(samples))
                for axis, t0, rate, samples in await cur.fetchall()
            ]

    async def latest(self, building_id: str) -> dict[str, Reading]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT c.id, extract(epoch FROM r.time)::float8, r.value FROM channels c "
                "JOIN sensors s ON s.id = c.sensor_id CROSS JOIN LATERAL (SELECT time, value "
                "FROM readings WHERE channel_id = c.key ORDER BY time DESC LIMIT 1) r "
                "WHERE s.building_id = %s",
                (building_id,),
            )
            return {cid: Reading(cid, t, v) for cid, t, v in await cur.fetchall()}

    async def prune_waveforms(self, before: float) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute("DELETE FROM waveforms WHERE t0 < to_timestamp(%s)", (before,))
            return max(cur.rowcount, 0)

    # -- alert workflow (the SQL is in data/postgres_alerts.py) ----------------------------

    async def save_alert(
        self,
        alert: Alert,
        events: Sequence[AlertEvent] = (),
        incident: Incident | None = None,
    ) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await postgres_alerts.save_alert(conn, alert, events, incident)

    async def alert(self, alert_id: str) -> Alert | None:
        async with self._pool.connection() as conn:
            return await postgres_alerts.alert(conn, alert_id)

    async def alerts(
        self,
        *,
        building_id: str | None = None,
        state: AlertState | None = None,
        incident_id: str | None = None,
        sensor_id: str | None = None,
        rule_id: str | None = None,
        limit: int = 500,
    ) -> list[Alert]:
        async with self._pool.connection() as conn:
            return await postgres_alerts.alerts(
                conn,
                building_id=building_id,
                state=state,
                incident_id=incident_id,
                sensor_id=sensor_id,
                rule_id=rule_id,
                limit=limit,
            )

    async def alert_events(
        self, alert_id: str | None = None, *, since: float | None = None, limit: int = 1000
    ) -> list[AlertEvent]:
        async with self._pool.connection() as conn:
            return await postgres_alerts.alert_events(conn, alert_id, since=since, limit=limit)

    async def incident(self, incident_id: str) -> Incident | None:
        async with self._pool.connection() as conn:
            return await postgres_alerts.incident(conn, incident_id)

    async def incidents(
        self,
        *,
        building_id: str | None = None,
        state: IncidentState | None = None,
        limit: int = 500,
    ) -> list[Incident]:
        async with self._pool.connection() as conn:
            return await postgres_alerts.incidents(
                conn, building_id=building_id, state=state, limit=limit
            )

    async def put_subscription(self, subscription: Subscription) -> None:
        async with self._pool.connection() as conn:
            await postgres_alerts.put_subscription(conn, subscription)

    async def subscription(self, subscription_id: str) -> Subscription | None:
        async with self._pool.connection() as conn:
            return await postgres_alerts.subscription(conn, subscription_id)

    async def subscriptions(self) -> list[Subscription]:
        async with self._pool.connection() as conn:
            return await postgres_alerts.subscriptions(conn)

    async def delete_subscription(self, subscription_id: str) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            return await postgres_alerts.delete_subscription(conn, subscription_id)

    async def write_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await postgres_alerts.write_deliveries(conn, deliveries)

    async def deliveries(
        self,
        *,
        subscription_id: str | None = None,
        incident_id: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        async with self._pool.connection() as conn:
            return await postgres_alerts.deliveries(
                conn, subscription_id=subscription_id, incident_id=incident_id, limit=limit
            )

    async def save_escalation(self, escalation: Escalation) -> None:
        async with self._pool.connection() as conn:
            await postgres_alerts.save_escalation(conn, escalation)

    async def escalations(self) -> list[Escalation]:
        async with self._pool.connection() as conn:
            return await postgres_alerts.escalations(conn)

    async def delete_escalation(self, subscription_id: str, incident_id: str) -> None:
        async with self._pool.connection() as conn:
            await postgres_alerts.delete_escalation(conn, subscription_id, incident_id)

    # -- access (the SQL is in data/postgres_access.py) --------------------------------------

    async def put_token(self, token: ApiToken) -> None:
        async with self._pool.connection() as conn:
            await postgres_access.put_token(conn, token)

    async def token(self, token_id: str) -> ApiToken | None:
        async with self._pool.connection() as conn:
            return await postgres_access.token(conn, token_id)

    async def tokens(self) -> list[ApiToken]:
        async with self._pool.connection() as conn:
            return await postgres_access.tokens(conn)

    async def put_device(self, device: DeviceCredential) -> None:
        async with self._pool.connection() as conn:
            await postgres_access.put_device(conn, device)

    async def device(self, device_id: str) -> DeviceCredential | None:
        async with self._pool.connection() as conn:
            return await postgres_access.device(conn, device_id)

    async def devices(self) -> list[DeviceCredential]:
        async with self._pool.connection() as conn:
            return await postgres_access.devices(conn)

    # -- dead letters -----------------------------------------------------------------------

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        async with self._pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO dead_letters (time, reason, topic, device_id, detail, payload) "
                "VALUES (to_timestamp(%s), %s, %s, %s, %s, %s)",
                [(d.time, d.reason, d.topic, d.device_id, d.detail, d.payload) for d in letters],
            )

    async def dead_letters(
        self, *, reason: str | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT extract(epoch FROM time)::float8, reason, topic, device_id, detail, "
                "payload FROM dead_letters WHERE %(r)s::text IS NULL OR reason = %(r)s "
                "ORDER BY id DESC LIMIT %(n)s",
                {"r": reason, "n": limit},
            )
            return [
                DeadLetter(t, why, topic, dev, detail, bytes(payload))
                for t, why, topic, dev, detail, payload in await cur.fetchall()
            ]

    async def dead_letter_counts(self) -> dict[str, int]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason"
            )
            return {reason: int(n) for reason, n in await cur.fetchall()}


async def _try_timescale(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether TimescaleDB is available; plain PostgreSQL otherwise (as on these machines)."""
    try:
        async with conn.transaction():
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        return True
    except psycopg.Error as exc:
        log.info("TimescaleDB not available (%s); using plain PostgreSQL rollups", exc)
        return False


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable URL>"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())
