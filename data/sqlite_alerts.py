"""The alert workflow's tables in the SQLite store: alerts, their audit trail, incidents,
subscriptions, deliveries and escalations.

Functions take the store's connection and never commit: `SqliteStore` runs each write in
one transaction of its own, so a failed `save_alert` leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

from data.rows import (
    ALERT_COLUMNS,
    ALERT_EVENT_COLUMNS,
    DELIVERY_COLUMNS,
    ESCALATION_COLUMNS,
    INCIDENT_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    alert_event_from_row,
    alert_event_row,
    alert_from_row,
    alert_row,
    delivery_from_row,
    delivery_row,
    escalation_from_row,
    escalation_row,
    incident_from_row,
    incident_row,
    placeholders,
    subscription_from_row,
    subscription_row,
    updates,
    where,
)
from models.alerting import (
    AlertEvent,
    Delivery,
    Escalation,
    Incident,
    IncidentState,
    Subscription,
)
from models.types import Alert, AlertState

# Schema version 2: the alert workflow. Version 1 databases have the alerts table without
# the workflow's columns; the defaults give their alerts no incident, shelf or acknowledger.
SCHEMA_V2 = """
ALTER TABLE alerts ADD COLUMN incident_id TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN shelved_until REAL;
ALTER TABLE alerts ADD COLUMN acknowledged_at REAL;
ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT NOT NULL DEFAULT '';
CREATE INDEX alerts_incident ON alerts(incident_id);
CREATE TABLE alert_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, time REAL NOT NULL,
    actor TEXT NOT NULL, action TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL,
    severity TEXT NOT NULL, note TEXT NOT NULL, building_id TEXT NOT NULL,
    incident_id TEXT NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events(alert_id, id);
CREATE INDEX alert_events_time ON alert_events(time);
CREATE TABLE incidents (
    id TEXT PRIMARY KEY, building_id TEXT NOT NULL, zone TEXT NOT NULL, state TEXT NOT NULL,
    severity TEXT NOT NULL, opened_at REAL NOT NULL, updated_at REAL NOT NULL, resolved_at REAL
);
CREATE INDEX incidents_opened ON incidents(opened_at);
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, channel TEXT NOT NULL, contacts TEXT NOT NULL,
    building_id TEXT, min_severity TEXT NOT NULL, kinds TEXT NOT NULL,
    escalate_after_s REAL NOT NULL, max_reminders INTEGER NOT NULL, secret TEXT NOT NULL,
    enabled INTEGER NOT NULL
);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, subscription_id TEXT NOT NULL,
    incident_id TEXT NOT NULL, channel TEXT NOT NULL, contact TEXT NOT NULL,
    notice TEXT NOT NULL, attempt INTEGER NOT NULL, ok INTEGER NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX deliveries_subscription ON deliveries(subscription_id, id);
CREATE INDEX deliveries_incident ON deliveries(incident_id, id);
CREATE TABLE escalations (
    subscription_id TEXT NOT NULL, incident_id TEXT NOT NULL, step INTEGER NOT NULL,
    next_at REAL, severity TEXT NOT NULL, alert_ids TEXT NOT NULL,
    PRIMARY KEY (subscription_id, incident_id)
) WITHOUT ROWID;
"""


def _marks(columns: str) -> str:
    return placeholders(columns, "?")


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    return where(filters, "?")


async def save_alert(
    db: aiosqlite.Connection,
    alert: Alert,
    events: Sequence[AlertEvent],
    incident: Incident | None,
) -> None:
    await db.execute(
        f"INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ({_marks(ALERT_COLUMNS)}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates(ALERT_COLUMNS, 'id')}",
        alert_row(alert),
    )
    await db.executemany(
        f"INSERT INTO alert_events ({ALERT_EVENT_COLUMNS}) VALUES ({_marks(ALERT_EVENT_COLUMNS)})",
        [alert_event_row(e) for e in events],
    )
    if incident is not None:
        await db.execute(
            f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ({_marks(INCIDENT_COLUMNS)}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates(INCIDENT_COLUMNS, 'id')}",
            incident_row(incident),
        )


async def alert(db: aiosqlite.Connection, alert_id: str) -> Alert | None:
    async with db.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)) as cur:
        row = await cur.fetchone()
    return alert_from_row(row) if row is not None else None


async def alerts(
    db: aiosqlite.Connection,
    *,
    building_id: str | None,
    state: AlertState | None,
    incident_id: str | None,
    sensor_id: str | None,
    rule_id: str | None,
    limit: int,
) -> list[Alert]:
    clause, args = _where(
        {
            "building_id": building_id,
            "state": state.value if state is not None else None,
            "incident_id": incident_id,
            "sensor_id": sensor_id,
            "rule_id": rule_id,
        }
    )
    async with db.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts {clause} ORDER BY opened_at DESC, id LIMIT ?",
        (*args, limit),
    ) as cur:
        return [alert_from_row(r) async for r in cur]


async def alert_events(
    db: aiosqlite.Connection, alert_id: str | None, *, since: float | None, limit: int
) -> list[AlertEvent]:
    clause, args = _where({"alert_id": alert_id, "time >=": since})
    async with db.execute(
        f"SELECT {ALERT_EVENT_COLUMNS} FROM alert_events {clause} ORDER BY id LIMIT ?",
        (*args, limit),
    ) as cur:
        return [alert_event_from_row(r) async for r in cur]


async def incident(db: aiosqlite.Connection, incident_id: str) -> Incident | None:
    async with db.execute(
        f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)
    ) as cur:
        row = await cur.fetchone()
    return incident_from_row(row) if row is not None else None


async def incidents(
    db: aiosqlite.Connection,
    *,
    building_id: str | None,
    state: IncidentState | None,
    limit: int,
) -> list[Incident]:
    clause, args = _where(
        {"building_id": building_id, "state": state.value if state is not None else None}
    )
    async with db.execute(
        f"SELECT {INCIDENT_COLUMNS} FROM incidents {clause} ORDER BY opened_at DESC, id LIMIT ?",
        (*args, limit),
    ) as cur:
        return [incident_from_row(r) async for r in cur]


async def put_subscription(db: aiosqlite.Connection, subscription: Subscription) -> None:
    await db.execute(
        f"INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) "
        f"VALUES ({_marks(SUBSCRIPTION_COLUMNS)}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates(SUBSCRIPTION_COLUMNS, 'id')}",
        subscription_row(subscription),
    )


async def subscription(db: aiosqlite.Connection, subscription_id: str) -> Subscription | None:
    async with db.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
    ) as cur:
        row = await cur.fetchone()
    return subscription_from_row(row) if row is not None else None


async def subscriptions(db: aiosqlite.Connection) -> list[Subscription]:
    async with db.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY name, id"
    ) as cur:
        return [subscription_from_row(r) async for r in cur]


async def delete_subscription(db: aiosqlite.Connection, subscription_id: str) -> bool:
    await db.execute("DELETE FROM escalations WHERE subscription_id = ?", (subscription_id,))
    cur = await db.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))
    return cur.rowcount > 0


async def write_deliveries(db: aiosqlite.Connection, deliveries: Sequence[Delivery]) -> None:
    await db.executemany(
        f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES ({_marks(DELIVERY_COLUMNS)})",
        [delivery_row(d) for d in deliveries],
    )


async def deliveries(
    db: aiosqlite.Connection,
    *,
    subscription_id: str | None,
    incident_id: str | None,
    limit: int,
) -> list[Delivery]:
    clause, args = _where({"subscription_id": subscription_id, "incident_id": incident_id})
    async with db.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries {clause} ORDER BY id DESC LIMIT ?",
        (*args, limit),
    ) as cur:
        return [delivery_from_row(r) async for r in cur]


async def save_escalation(db: aiosqlite.Connection, escalation: Escalation) -> None:
    key = "subscription_id, incident_id"
    await db.execute(
        f"INSERT INTO escalations ({ESCALATION_COLUMNS}) VALUES ({_marks(ESCALATION_COLUMNS)}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates(ESCALATION_COLUMNS, key)}",
        escalation_row(escalation),
    )


async def escalations(db: aiosqlite.Connection) -> list[Escalation]:
    async with db.execute(
        f"SELECT {ESCALATION_COLUMNS} FROM escalations ORDER BY subscription_id, incident_id"
    ) as cur:
        return [escalation_from_row(r) async for r in cur]


async def delete_escalation(
    db: aiosqlite.Connection, subscription_id: str, incident_id: str
) -> None:
    await db.execute(
        "DELETE FROM escalations WHERE subscription_id = ? AND incident_id = ?",
        (subscription_id, incident_id),
    )
