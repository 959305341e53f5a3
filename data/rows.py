"""Rows to domain objects and back, shared by every store: one column order, one mapping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.types import Alert, AlertState, Building, Channel, Sensor, SensorKind, Severity

ALERT_COLUMNS = (
    "id, building_id, sensor_id, channel_id, rule_id, state, severity, opened_at, updated_at, "
    "value, worst_value, limit_value, standard, message, resolved_at, last_seen_at"
)
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
