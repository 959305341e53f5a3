"""The alert workflow's tables in the PostgreSQL store: alerts, their audit trail,
incidents, subscriptions, deliveries and escalations.

Functions take a connection and leave the transaction to the caller, so `PostgresStore`
decides what commits together (all of a `save_alert`, or none of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

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

Connection = psycopg.AsyncConnection[Any]


def _marks(columns: str) -> str:
    return placeholders(columns, "%s")


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    return where(filters, "%s")


async def save_alert(
    conn: Connection,
    alert: Alert,
    events: Sequence[AlertEvent],
    incident: Incident | None,
) -> None:
    await conn.execute(
        f"INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ({_marks(ALERT_COLUMNS)}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates(ALERT_COLUMNS, 'id')}",
        alert_row(alert),
    )
    if events:
        async with conn.cursor() as cur:
            await cur.executemany(
                f"INSERT INTO alert_events ({ALERT_EVENT_COLUMNS}) "
                f"VALUES ({_marks(ALERT_EVENT_COLUMNS)})",
                [alert_event_row(e) for e in events],
            )
    if incident is not None:
        await conn.execute(
            f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ({_marks(INCIDENT_COLUMNS)}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates(INCIDENT_COLUMNS, 'id')}",
            incident_row(incident),
        )


async def alert(conn: Connection, alert_id: str) -> Alert | None:
    cur = await conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = %s", (alert_id,))
    row = await cur.fetchone()
    return alert_from_row(row) if row is not None else None


async def alerts(
    conn: Connection,
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
    cur = await conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts {clause} ORDER BY opened_at DESC, id LIMIT %s",
        (*args, limit),
    )
    return [alert_from_row(r) for r in await cur.fetchall()]


async def alert_events(
    conn: Connection, alert_id: str | None, *, since: float | None, limit: int
) -> list[AlertEvent]:
    clause, args = _where({"alert_id": alert_id, "time >=": since})
    cur = await conn.execute(
        f"SELECT {ALERT_EVENT_COLUMNS} FROM alert_events {clause} ORDER BY id LIMIT %s",
        (*args, limit),
    )
    return [alert_event_from_row(r) for r in await cur.fetchall()]


async def incident(conn: Connection, incident_id: str) -> Incident | None:
    cur = await conn.execute(
        f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = %s", (incident_id,)
    )
    row = await cur.fetchone()
    return incident_from_row(row) if row is not None else None


async def incidents(
    conn: Connection,
    *,
    building_id: str | None,
    state: IncidentState | None,
    limit: int,
) -> list[Incident]:
    clause, args = _where(
        {"building_id": building_id, "state": state.value if state is not None else None}
    )
    cur = await conn.execute(
        f"SELECT {INCIDENT_COLUMNS} FROM incidents {clause} ORDER BY opened_at DESC, id LIMIT %s",
        (*args, limit),
    )
    return [incident_from_row(r) for r in await cur.fetchall()]


async def put_subscription(conn: Connection, subscription: Subscription) -> None:
    await conn.execute(
        f"INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) "
        f"VALUES ({_marks(SUBSCRIPTION_COLUMNS)}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates(SUBSCRIPTION_COLUMNS, 'id')}",
        subscription_row(subscription),
    )


async def subscription(conn: Connection, subscription_id: str) -> Subscription | None:
    cur = await conn.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = %s", (subscription_id,)
    )
    row = await cur.fetchone()
    return subscription_from_row(row) if row is not None else None


async def subscriptions(conn: Connection) -> list[Subscription]:
    cur = await conn.execute(f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY name, id")
    return [subscription_from_row(r) for r in await cur.fetchall()]


async def delete_subscription(conn: Connection, subscription_id: str) -> bool:
    await conn.execute("DELETE FROM escalations WHERE subscription_id = %s", (subscription_id,))
    cur = await conn.execute("DELETE FROM subscriptions WHERE id = %s", (subscription_id,))
    return cur.rowcount > 0


async def write_deliveries(conn: Connection, deliveries: Sequence[Delivery]) -> None:
    if not deliveries:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES ({_marks(DELIVERY_COLUMNS)})",
            [delivery_row(d) for d in deliveries],
        )


async def deliveries(
    conn: Connection,
    *,
    subscription_id: str | None,
    incident_id: str | None,
    limit: int,
) -> list[Delivery]:
    clause, args = _where({"subscription_id": subscription_id, "incident_id": incident_id})
    cur = await conn.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries {clause} ORDER BY id DESC LIMIT %s",
        (*args, limit),
    )
    return [delivery_from_row(r) for r in await cur.fetchall()]


async def save_escalation(conn: Connection, escalation: Escalation) -> None:
    key = "subscription_id, incident_id"
    await conn.execute(
        f"INSERT INTO escalations ({ESCALATION_COLUMNS}) VALUES ({_marks(ESCALATION_COLUMNS)}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates(ESCALATION_COLUMNS, key)}",
        escalation_row(escalation),
    )


async def escalations(conn: Connection) -> list[Escalation]:
    cur = await conn.execute(
        f"SELECT {ESCALATION_COLUMNS} FROM escalations ORDER BY subscription_id, incident_id"
    )
    return [escalation_from_row(r) for r in await cur.fetchall()]


async def delete_escalation(conn: Connection, subscription_id: str, incident_id: str) -> None:
    await conn.execute(
        "DELETE FROM escalations WHERE subscription_id = %s AND incident_id = %s",
        (subscription_id, incident_id),
    )
