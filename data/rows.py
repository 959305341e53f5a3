"""Rows to domain objects and back, shared by every store: one column order, one mapping."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from models.access import ApiToken, DeviceCredential, Role
from models.alerting import (
    AlertAction,
    AlertEvent,
    ChannelType,
    Delivery,
    Escalation,
    Incident,
    IncidentState,
    Subscription,
)
from models.types import Alert, AlertState, Building, Channel, Sensor, SensorKind, Severity

ALERT_COLUMNS = (
    "id, building_id, sensor_id, channel_id, rule_id, state, severity, opened_at, updated_at, "
    "value, worst_value, limit_value, standard, message, resolved_at, last_seen_at, "
    "incident_id, shelved_until, acknowledged_at, acknowledged_by"
)
ALERT_EVENT_COLUMNS = (
    "alert_id, time, actor, action, from_state, to_state, severity, note, building_id, incident_id"
)
INCIDENT_COLUMNS = "id, building_id, zone, state, severity, opened_at, updated_at, resolved_at"
SUBSCRIPTION_COLUMNS = (
    "id, name, channel, contacts, building_id, min_severity, kinds, escalate_after_s, "
    "max_reminders, secret, enabled"
)
DELIVERY_COLUMNS = (
    "time, subscription_id, incident_id, channel, contact, notice, attempt, ok, detail"
)
ESCALATION_COLUMNS = "subscription_id, incident_id, step, next_at, severity, alert_ids"
TOKEN_COLUMNS = "id, name, role, secret_sha256, created_at, revoked_at"
DEVICE_COLUMNS = "device_id, building_id, password_hash, created_at, revoked_at"
SENSOR_COLUMNS = "id, kind, device_id, floor, zone, x, y, z, nx, ny, nz, expected_interval_s"


def alert_row(alert: Alert) -> tuple[Any, ...]:
    """Values in ``ALERT_COLUMNS`` order."""
    return (
        alert.id,
        alert.building_id,
        alert.sensor_id,
        alert.channel_id,
        alert.rule_id,
        alert.state.value,
        alert.severity.value,
        alert.opened_at,
        alert.updated_at,
        alert.value,
        alert.worst_value,
        alert.limit,
        alert.standard,
        alert.message,
        alert.resolved_at,
        alert.last_seen_at,
        alert.incident_id,
        alert.shelved_until,
        alert.acknowledged_at,
        alert.acknowledged_by,
    )


def alert_from_row(r: Sequence[Any]) -> Alert:
    """An alert from values in ``ALERT_COLUMNS`` order."""
    return Alert(
        id=r[0],
        building_id=r[1],
        sensor_id=r[2],
        channel_id=r[3],
        rule_id=r[4],
        state=AlertState(r[5]),
        severity=Severity(r[6]),
        opened_at=r[7],
        updated_at=r[8],
        value=r[9],
        worst_value=r[10],
        limit=r[11],
        standard=r[12],
        message=r[13],
        resolved_at=r[14],
        last_seen_at=r[15],
        incident_id=r[16],
        shelved_until=r[17],
        acknowledged_at=r[18],
        acknowledged_by=r[19],
    )


def placeholders(columns: str, mark: str) -> str:
    """One parameter ``mark`` (``?`` or ``%s``) per column of ``columns``."""
    return ", ".join([mark] * (columns.count(",") + 1))


def updates(columns: str, key: str) -> str:
    """``SET`` assignments of an upsert replacing every column but the ``key`` ones, e.g.
    ``name = excluded.name, ...``; SQLite and PostgreSQL share the syntax."""
    keys = {k.strip() for k in key.split(",")}
    names = [c.strip() for c in columns.split(",")]
    return ", ".join(f"{c} = excluded.{c}" for c in names if c not in keys)


def where(filters: dict[str, Any], mark: str) -> tuple[str, list[Any]]:
    """A ``WHERE`` clause (or "") for the filters that are not None, and its arguments.
    Keys are column names, optionally with an operator (``"time >="``); ``=`` otherwise."""
    given = {column: value for column, value in filters.items() if value is not None}
    if not given:
        return "", []
    terms = [c if " " in c else f"{c} =" for c in given]
    return "WHERE " + " AND ".join(f"{t} {mark}" for t in terms), list(given.values())


def alert_event_row(event: AlertEvent) -> tuple[Any, ...]:
    """Values in ``ALERT_EVENT_COLUMNS`` order."""
    return (
        event.alert_id,
        event.time,
        event.actor,
        event.action.value,
        event.from_state.value if event.from_state is not None else None,
        event.to_state.value,
        event.severity.value,
        event.note,
        event.building_id,
        event.incident_id,
    )


def alert_event_from_row(r: Sequence[Any]) -> AlertEvent:
    """An alert event from values in ``ALERT_EVENT_COLUMNS`` order."""
    return AlertEvent(
        alert_id=r[0],
        time=r[1],
        actor=r[2],
        action=AlertAction(r[3]),
        from_state=AlertState(r[4]) if r[4] is not None else None,
        to_state=AlertState(r[5]),
        severity=Severity(r[6]),
        note=r[7],
        building_id=r[8],
        incident_id=r[9],
    )


def incident_row(incident: Incident) -> tuple[Any, ...]:
    """Values in ``INCIDENT_COLUMNS`` order."""
    return (
        incident.id,
        incident.building_id,
        incident.zone,
        incident.state.value,
        incident.severity.value,
        incident.opened_at,
        incident.updated_at,
        incident.resolved_at,
    )


def incident_from_row(r: Sequence[Any]) -> Incident:
    """An incident from values in ``INCIDENT_COLUMNS`` order."""
    return Incident(
        id=r[0],
        building_id=r[1],
        zone=r[2],
        state=IncidentState(r[3]),
        severity=Severity(r[4]),
        opened_at=r[5],
        updated_at=r[6],
        resolved_at=r[7],
    )


def subscription_row(subscription: Subscription) -> tuple[Any, ...]:
    """Values in ``SUBSCRIPTION_COLUMNS`` order; contacts and kinds as JSON lists."""
    return (
        subscription.id,
        subscription.name,
        subscription.channel.value,
        json.dumps(list(subscription.contacts)),
        subscription.building_id,
        subscription.min_severity.value,
        json.dumps([k.value for k in subscription.kinds]),
        subscription.escalate_after_s,
        subscription.max_reminders,
        subscription.secret,
        subscription.enabled,
    )


def subscription_from_row(r: Sequence[Any]) -> Subscription:
    """A subscription from values in ``SUBSCRIPTION_COLUMNS`` order."""
    return Subscription(
        id=r[0],
        name=r[1],
        channel=ChannelType(r[2]),
        contacts=tuple(json.loads(r[3])),
        building_id=r[4],
        min_severity=Severity(r[5]),
        kinds=tuple(SensorKind(k) for k in json.loads(r[6])),
        escalate_after_s=r[7],
        max_reminders=r[8],
        secret=r[9],
        enabled=bool(r[10]),  # SQLite keeps booleans as 0 and 1
    )


def delivery_row(delivery: Delivery) -> tuple[Any, ...]:
    """Values in ``DELIVERY_COLUMNS`` order."""
    return (
        delivery.time,
        delivery.subscription_id,
        delivery.incident_id,
        delivery.channel.value,
        delivery.contact,
        delivery.notice,
        delivery.attempt,
        delivery.ok,
        delivery.detail,
    )


def delivery_from_row(r: Sequence[Any]) -> Delivery:
    """A delivery from values in ``DELIVERY_COLUMNS`` order."""
    return Delivery(
        time=r[0],
        subscription_id=r[1],
        incident_id=r[2],
        channel=ChannelType(r[3]),
        contact=r[4],
        notice=r[5],
        attempt=r[6],
        ok=bool(r[7]),
        detail=r[8],
    )


def escalation_row(escalation: Escalation) -> tuple[Any, ...]:
    """Values in ``ESCALATION_COLUMNS`` order; alert ids as a JSON list."""
    return (
        escalation.subscription_id,
        escalation.incident_id,
        escalation.step,
        escalation.next_at,
        escalation.severity.value,
        json.dumps(list(escalation.alert_ids)),
    )


def escalation_from_row(r: Sequence[Any]) -> Escalation:
    """An escalation from values in ``ESCALATION_COLUMNS`` order."""
    return Escalation(
        subscription_id=r[0],
        incident_id=r[1],
        step=r[2],
        next_at=r[3],
        severity=Severity(r[4]),
        alert_ids=tuple(json.loads(r[5])),
    )


def token_row(token: ApiToken) -> tuple[Any, ...]:
    """Values in ``TOKEN_COLUMNS`` order."""
    return (
        token.id,
        token.name,
        token.role.value,
        token.secret_sha256,
        token.created_at,
        token.revoked_at,
    )


def token_from_row(r: Sequence[Any]) -> ApiToken:
    """An API token's record from values in ``TOKEN_COLUMNS`` order."""
    return ApiToken(
        id=r[0], name=r[1], role=Role(r[2]), secret_sha256=r[3], created_at=r[4], revoked_at=r[5]
    )


def device_row(device: DeviceCredential) -> tuple[Any, ...]:
    """Values in ``DEVICE_COLUMNS`` order."""
    return (
        device.device_id,
        device.building_id,
        device.password_hash,
        device.created_at,
        device.revoked_at,
    )


def device_from_row(r: Sequence[Any]) -> DeviceCredential:
    """A device credential from values in ``DEVICE_COLUMNS`` order."""
    return DeviceCredential(
        device_id=r[0], building_id=r[1], password_hash=r[2], created_at=r[3], revoked_at=r[4]
    )


def sensor_from_row(r: Sequence[Any], channels: Sequence[Channel]) -> Sensor:
    """A sensor from values in ``SENSOR_COLUMNS`` order and its channels."""
    return Sensor(
        id=r[0],
        kind=SensorKind(r[1]),
        device_id=r[2],
        floor=r[3],
        zone=r[4],
        position=(r[5], r[6], r[7]),
        normal=(r[8], r[9], r[10]),
        channels=tuple(channels),
        expected_interval_s=r[11],
    )


def sensor_values(sensor: Sensor, building_id: str) -> tuple[Any, ...]:
    """Values for (id, building_id, kind, device_id, floor, zone, x..nz, expected_interval_s)."""
    return (
        sensor.id,
        building_id,
        sensor.kind.value,
        sensor.device_id,
        sensor.floor,
        sensor.zone,
        *sensor.position,
        *sensor.normal,
        sensor.expected_interval_s,
    )


def building_from_row(r: Sequence[Any], bounds: Any, sensors: Sequence[Sensor]) -> Building:
    """A building from (id, name, address, structure_type, noise_zone, _, model) and parts."""
    lo, hi = bounds
    return Building(
        id=r[0],
        name=r[1],
        address=r[2],
        structure_type=r[3],
        noise_zone=r[4],
        bounds=((lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2])),
        model=r[6],
        sensors=tuple(sensors),
    )
