"""The embedded SQLite store: one file, WAL journal, readings keyed by (channel, time)."""

from __future__ import annotations

import asyncio
import json
from array import array
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

import aiosqlite

from data import sqlite_access, sqlite_alerts
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

SCHEMA_VERSION = 3

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS buildings (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL,
    structure_type TEXT NOT NULL, noise_zone INTEGER NOT NULL,
    bounds TEXT NOT NULL, model TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sensors (
    id TEXT PRIMARY KEY,
    building_id TEXT NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    kind TEXT NOT NULL, device_id TEXT NOT NULL, floor INTEGER NOT NULL, zone TEXT NOT NULL,
    x REAL NOT NULL, y REAL NOT NULL, z REAL NOT NULL,
    nx REAL NOT NULL, ny REAL NOT NULL, nz REAL NOT NULL,
    expected_interval_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sensors_building ON sensors(building_id);
CREATE TABLE IF NOT EXISTS channels (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sensor_id TEXT NOT NULL REFERENCES sensors(id) ON DELETE CASCADE,
    metric TEXT NOT NULL, unit TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS readings (
    channel_key INTEGER NOT NULL, time REAL NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (channel_key, time)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, building_id TEXT NOT NULL, sensor_id TEXT NOT NULL,
    channel_id TEXT NOT NULL, rule_id TEXT NOT NULL, state TEXT NOT NULL,
    severity TEXT NOT NULL, opened_at REAL NOT NULL, updated_at REAL NOT NULL,
    value REAL NOT NULL, worst_value REAL NOT NULL, limit_value REAL NOT NULL,
    standard TEXT NOT NULL, message TEXT NOT NULL, resolved_at REAL, last_seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_opened ON alerts(opened_at);
CREATE TABLE IF NOT EXISTS waveforms (
    sensor_id TEXT NOT NULL, axis TEXT NOT NULL, t0 REAL NOT NULL, rate_hz REAL NOT NULL,
    samples BLOB NOT NULL,
    PRIMARY KEY (sensor_id, axis, t0)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, reason TEXT NOT NULL, topic TEXT NOT NULL,
    device_id TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB NOT NULL
);
"""

# (version, SQL) steps, each run once and in order; a new file runs them all.
_MIGRATIONS = ((1, _SCHEMA_V1), (2, sqlite_alerts.SCHEMA_V2), (3, sqlite_access.SCHEMA_V3))


class SqliteStore:
    """`Store` on one SQLite file, opened with ``async with SqliteStore(path) as store``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._channel_keys: dict[str, int] = {}
        # Tasks share one connection, so one task's commit would also commit another's
        # half-done writes: every write transaction holds this lock.
        self._write_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = await aiosqlite.connect(self.path)
        except Exception as exc:  # sqlite3 raises several types for a bad path
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        await self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL keeps WAL commits durable against process crashes (not power loss) at far
        # lower cost than FULL, which is the trade an embedded default should make.
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        try:
            await self._migrate()
        except BaseException:
            await self._db.close()
            self._db = None
            raise
        await self._load_channel_keys()
        return self

    async def _migrate(self) -> None:
        db = self.db
        # IMMEDIATE takes the write lock before the version is read, so two processes
        # opening the same file together cannot both migrate it.
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            async with db.execute("SELECT version FROM schema_version") as cur:
                row = await cur.fetchone()
            current = row[0] if row is not None else 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema {current}, this code needs {SCHEMA_VERSION}"
                )
            for version, script in _MIGRATIONS:
                if version > current:
                    # One statement at a time: executescript would commit halfway.
                    for statement in script.split(";"):
                        if statement.strip():
                            await db.execute(statement)
            if current != SCHEMA_VERSION:
                await db.execute("DELETE FROM schema_version")
                await db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            await db.commit()
        except BaseException:
            await db.rollback()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not open: use it with `async with`")
        return self._db

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: committed at the end, rolled back if anything fails."""
        async with self._write_lock:
            db = self.db
            try:
                yield db
            except BaseException:
                await db.rollback()
                raise
            await db.commit()

    async def _load_channel_keys(self) -> None:
        async with self.db.execute("SELECT id, key FROM channels") as cur:
            self._channel_keys = {row[0]: row[1] async for row in cur}

    # -- registry ---------------------------------------------------------------------------

    async def ping(self) -> None:
        async with self.db.execute("SELECT 1") as cur:
            await cur.fetchone()

    async def put_building(self, building: Building) -> None:
        (lo, hi) = building.bounds
        async with self._writing() as db:
            await db.execute(
                "INSERT INTO buildings VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "name=excluded.name, address=excluded.address, "
                "structure_type=excluded.structure_type, noise_zone=excluded.noise_zone, "
                "bounds=excluded.bounds, model=excluded.model",
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
            for s in building.sensors:
                await db.execute(
                    "INSERT INTO sensors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET building_id=excluded.building_id, "
                    "kind=excluded.kind, device_id=excluded.device_id, floor=excluded.floor, "
                    "zone=excluded.zone, x=excluded.x, y=excluded.y, z=excluded.z, nx=excluded.nx, "
                    "ny=excluded.ny, nz=excluded.nz, "
                    "expected_interval_s=excluded.expected_interval_s",
                    sensor_values(s, building.id),
                )
                for ch in s.channels:
                    # Keep the channel's key stable so its readings stay attached.
                    await db.execute(
                        "INSERT INTO channels (id, sensor_id, metric, unit) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(id) DO UPDATE SET unit=excluded.unit",
                        (ch.id, s.id, ch.metric, ch.unit),
                    )
        await self._load_channel_keys()

    async def buildings(self) -> list[Building]:
        async with self.db.execute("SELECT id FROM buildings ORDER BY id") as cur:
            ids = [row[0] async for row in cur]
        found = [await self.building(i) for i in ids]
        return [b for b in found if b is not None]

    async def building(self, building_id: str) -> Building | None:
        async with self.db.execute(
            "SELECT id, name, address, structure_type, noise_zone, bounds, model "
            "FROM buildings WHERE id = ?",
            (building_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        channels: dict[str, list[Channel]] = {}
        async with self.db.execute(
            "SELECT c.sensor_id, c.metric, c.unit FROM channels c "
            "JOIN sensors s ON s.id = c.sensor_id WHERE s.building_id = ? ORDER BY c.key",
            (building_id,),
        ) as cur:
            async for sensor_id, metric, unit in cur:
                channels.setdefault(sensor_id, []).append(Channel(sensor_id, metric, unit))
        async with self.db.execute(
            f"SELECT {SENSOR_COLUMNS} FROM sensors WHERE building_id = ? ORDER BY rowid",
            (building_id,),
        ) as cur:
            sensors = [sensor_from_row(r, channels.get(r[0], ())) async for r in cur]
        return building_from_row(row, json.loads(row[5]), sensors)

    # -- readings ---------------------------------------------------------------------------

    def _key(self, channel_id: str) -> int:
        try:
            return self._channel_keys[channel_id]
        except KeyError:
            raise UnknownChannelError(f"channel {channel_id!r} is not registered") from None

    async def write_readings(self, readings: Sequence[Reading]) -> int:
        rows = [(self._key(r.channel_id), r.time, r.value) for r in readings]
        async with self._writing() as db:
            before = db.total_changes
            await db.executemany("INSERT OR IGNORE INTO readings VALUES (?, ?, ?)", rows)
        return db.total_changes - before

    async def readings(
        self, channel_id: str, start: float, end: float, *, limit: int = 10_000
    ) -> list[Reading]:
        key = self._key(channel_id)
        async with self.db.execute(
            "SELECT time, value FROM readings WHERE channel_key = ? AND time >= ? AND time < ? "
            "ORDER BY time LIMIT ?",
            (key, start, end, limit),
        ) as cur:
            return [Reading(channel_id, t, v) async for t, v in cur]

    async def series(
        self, channel_id: str, start: float, end: float, bucket: Bucket, *, limit: int = 10_000
    ) -> list[Summary]:
        if bucket is Bucket.RAW:
            raw = await self.readings(channel_id, start, end, limit=limit)
            return [Summary(r.time, 1, r.value, r.value, r.value) for r in raw]
        # The embedded store summarises on the fly; its data sets are small enough.
        width = bucket.seconds
        async with self.db.execute(
            "SELECT CAST(time / ? AS INTEGER) * ? AS b, count(*), avg(value), min(value), "
            "max(value) FROM readings WHERE channel_key = ? AND time >= ? AND time < ? "
            "GROUP BY b ORDER BY b LIMIT ?",
            (width, width, self._key(channel_id), start, end, limit),
        ) as cur:
            return [Summary(float(b), n, mean, lo, hi) async for b, n, mean, lo, hi in cur]

    async def write_waveforms(self, blocks: Sequence[WaveformBlock]) -> int:
        async with self._writing() as db:
            before = db.total_changes
            await db.executemany(
                "INSERT OR IGNORE INTO waveforms VALUES (?, ?, ?, ?, ?)",
                [
                    (b.sensor_id, b.axis, b.t0, b.rate_hz, array("d", b.samples).tobytes())
                    for b in blocks
                ],
            )
        return db.total_changes - before

    async def waveforms(
        self, sensor_id: str, start: float, end: float, *, limit: int = 100
    ) -> list[WaveformBlock]:
        async with self.db.execute(
            "SELECT axis, t0, rate_hz, samples FROM waveforms WHERE sensor_id = ? AND t0 >= ? "
            "AND t0 < ? ORDER BY t0, axis LIMIT ?",
            (sensor_id, start, end, limit),
        ) as cur:
            return [
                WaveformBlock(sensor_id, axis, t0, rate, tuple(array("d", raw)))
                async for axis, t0, rate, raw in cur
            ]

    async def prune_waveforms(self, before: float) -> int:
        async with self._writing() as db:
            cur = await db.execute("DELETE FROM waveforms WHERE t0 < ?", (before,))
        return max(cur.rowcount, 0)

    async def latest(self, building_id: str) -> dict[str, Reading]:
        # One indexed lookup per channel: the primary key makes each a b-tree seek.
        out: dict[str, Reading] = {}
        async with self.db.execute(
            "SELECT c.id, (SELECT time FROM readings r WHERE r.channel_key = c.key "
            "ORDER BY time DESC LIMIT 1) AS t, (SELECT value FROM readings r "
            "WHERE r.channel_key = c.key ORDER BY time DESC LIMIT 1) "
            "FROM channels c JOIN sensors s ON s.id = c.sensor_id WHERE s.building_id = ?",
            (building_id,),
        ) as cur:
            async for cid, t, v in cur:
                if t is not None:
                    out[cid] = Reading(cid, t, v)
        return out

    # -- alert workflow (the SQL is in data/sqlite_alerts.py) ------------------------------

    async def save_alert(
        self,
        alert: Alert,
        events: Sequence[AlertEvent] = (),
        incident: Incident | None = None,
    ) -> None:
        async with self._writing() as db:
            await sqlite_alerts.save_alert(db, alert, events, incident)

    async def alert(self, alert_id: str) -> Alert | None:
        return await sqlite_alerts.alert(self.db, alert_id)

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
        return await sqlite_alerts.alerts(
            self.db,
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
        return await sqlite_alerts.alert_events(self.db, alert_id, since=since, limit=limit)

    async def incident(self, incident_id: str) -> Incident | None:
        return await sqlite_alerts.incident(self.db, incident_id)

    async def incidents(
        self,
        *,
        building_id: str | None = None,
        state: IncidentState | None = None,
        limit: int = 500,
    ) -> list[Incident]:
        return await sqlite_alerts.incidents(
            self.db, building_id=building_id, state=state, limit=limit
        )

    async def put_subscription(self, subscription: Subscription) -> None:
        async with self._writing() as db:
            await sqlite_alerts.put_subscription(db, subscription)

    async def subscription(self, subscription_id: str) -> Subscription | None:
        return await sqlite_alerts.subscription(self.db, subscription_id)

    async def subscriptions(self) -> list[Subscription]:
        return await sqlite_alerts.subscriptions(self.db)

    async def delete_subscription(self, subscription_id: str) -> bool:
        async with self._writing() as db:
            return await sqlite_alerts.delete_subscription(db, subscription_id)

    async def write_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        async with self._writing() as db:
            await sqlite_alerts.write_deliveries(db, deliveries)

    async def deliveries(
        self,
        *,
        subscription_id: str | None = None,
        incident_id: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        return await sqlite_alerts.deliveries(
            self.db, subscription_id=subscription_id, incident_id=incident_id, limit=limit
        )

    async def save_escalation(self, escalation: Escalation) -> None:
        async with self._writing() as db:
            await sqlite_alerts.save_escalation(db, escalation)

    async def escalations(self) -> list[Escalation]:
        return await sqlite_alerts.escalations(self.db)

    async def delete_escalation(self, subscription_id: str, incident_id: str) -> None:
        async with self._writing() as db:
            await sqlite_alerts.delete_escalation(db, subscription_id, incident_id)

    # -- access (the SQL is in data/sqlite_access.py) ----------------------------------------

    async def put_token(self, token: ApiToken) -> None:
        async with self._writing() as db:
            await sqlite_access.put_token(db, token)

    async def token(self, token_id: str) -> ApiToken | None:
        return await sqlite_access.token(self.db, token_id)

    async def tokens(self) -> list[ApiToken]:
        return await sqlite_access.tokens(self.db)

    async def put_device(self, device: DeviceCredential) -> None:
        async with self._writing() as db:
            await sqlite_access.put_device(db, device)

    async def device(self, device_id: str) -> DeviceCredential | None:
        return await sqlite_access.device(self.db, device_id)

    async def devices(self) -> list[DeviceCredential]:
        return await sqlite_access.devices(self.db)

    # -- dead letters -----------------------------------------------------------------------

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        async with self._writing() as db:
            await db.executemany(
                "INSERT INTO dead_letters (time, reason, topic, device_id, detail, payload) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(d.time, d.reason, d.topic, d.device_id, d.detail, d.payload) for d in letters],
            )

    async def dead_letters(
        self, *, reason: str | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        async with self.db.execute(
            "SELECT time, reason, topic, device_id, detail, payload FROM dead_letters "
            "WHERE ? IS NULL OR reason = ? ORDER BY id DESC LIMIT ?",
            (reason, reason, limit),
        ) as cur:
            return [DeadLetter(*r) async for r in cur]

    async def dead_letter_counts(self) -> dict[str, int]:
        async with self.db.execute(
            "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason"
        ) as cur:
            return {reason: n async for reason, n in cur}
