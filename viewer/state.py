"""What the viewer shows at one moment: each sensor's state, value and its zone's health.

Pure functions over domain types, shared by the live views, the time machine and snapshots.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from models.types import Alert, Sensor, Severity

# A sensor is stale once it missed three reports in a row, offline after ten (or never seen):
# one lost packet is normal on a building site, three are not.
STALE_AFTER_INTERVALS = 3.0
OFFLINE_AFTER_INTERVALS = 10.0

# The "metric" that colours each zone by its worst open alert instead of a sensor value.
HEALTH = "health"


class SensorState(StrEnum):
    """What a sensor marker says, from calm to urgent."""

    OK = "ok"
    STALE = "stale"
    OFFLINE = "offline"
    WARNING = "warning"
    ALARM = "alarm"


# Marker colours (RGB 0-1): the alert colours are the ones ops staff expect; stale and
# offline are greys, so they never read as a value on any scale.
STATE_RGB: dict[SensorState, tuple[float, float, float]] = {
    SensorState.OK: (0.18, 0.62, 0.25),
    SensorState.STALE: (0.62, 0.62, 0.62),
    SensorState.OFFLINE: (0.1, 0.1, 0.1),
    SensorState.WARNING: (1.0, 0.65, 0.0),
    SensorState.ALARM: (0.85, 0.0, 0.0),
}


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything one picture of a building needs, at ``time`` (epoch s)."""

    time: float
    metric: str
    values: Mapping[str, float]  # sensor id -> this metric's value; fresh data only
    states: Mapping[str, SensorState]
    health: Mapping[str, float] = field(default_factory=dict)  # sensor id -> zone severity rank
    alerts: Sequence[Alert] = ()  # alerts open at ``time``, worst first

    def colour_values(self) -> Mapping[str, float]:
        """What the building is coloured by: the metric's values, or zone health."""
        return self.health if self.metric == HEALTH else self.values


# How urgent each state is for a district overview: an alert beats missing data beats ok.
_URGENCY = {
    SensorState.OK: 0,
    SensorState.STALE: 1,
    SensorState.OFFLINE: 2,
    SensorState.WARNING: 3,
    SensorState.ALARM: 4,
}


def worst_state(states: Iterable[SensorState]) -> SensorState | None:
    """The most urgent of ``states``; None when there are none."""
    return max(states, key=_URGENCY.__getitem__, default=None)


def sensor_state(
    sensor: Sensor,
    last_seen: float | None,
    severity: Severity | None,
    now: float,
    *,
    resolution_s: float = 0.0,
) -> SensorState:
    """The state of one sensor; an open warning or alarm wins over stale or offline data,
    because the alert needs attention whatever the device does now. ``resolution_s`` is the
    width of the rollup buckets the times come from (0 for raw readings)."""
    if severity is Severity.ALARM:
        return SensorState.ALARM
    if severity is Severity.WARNING:
        return SensorState.WARNING
    if last_seen is None:
        return SensorState.OFFLINE
    age_s = now - last_seen
    interval_s = max(sensor.expected_interval_s, resolution_s)
    if age_s > OFFLINE_AFTER_INTERVALS * interval_s:
        return SensorState.OFFLINE
    if age_s > STALE_AFTER_INTERVALS * interval_s:
        return SensorState.STALE
    return SensorState.OK


def is_fresh(sensor: Sensor, reading_time: float, now: float, resolution_s: float = 0.0) -> bool:
    """Whether a reading taken at ``reading_time`` may still colour the model at ``now``."""
    interval_s = max(sensor.expected_interval_s, resolution_s)
    return 0.0 <= now - reading_time <= STALE_AFTER_INTERVALS * interval_s


def worst_severity(alerts: Iterable[Alert]) -> dict[str, Severity]:
    """Worst severity per sensor among ``alerts``."""
    worst: dict[str, Severity] = {}
    for alert in alerts:
        current = worst.get(alert.sensor_id)
        if current is None or alert.severity.rank > current.rank:
            worst[alert.sensor_id] = alert.severity
    return worst


def zone_health(sensors: Sequence[Sensor], alerts: Iterable[Alert]) -> dict[str, float]:
    """Per sensor, the severity rank (0 info/none, 1 warning, 2 alarm) of the worst alert
    open anywhere in its zone, so the whole zone takes that colour."""
    by_sensor = worst_severity(alerts)
    zone_rank: dict[str, int] = {}
    for sensor in sensors:
        severity = by_sensor.get(sensor.id)
        rank = severity.rank if severity is not None else 0
        zone_rank[sensor.zone] = max(zone_rank.get(sensor.zone, 0), rank)
    return {s.id: float(zone_rank[s.zone]) for s in sensors}


def open_at(alerts: Iterable[Alert], time: float) -> list[Alert]:
    """Alerts open (or acknowledged) at ``time``, worst and newest first."""
    active = [
        a for a in alerts if a.opened_at <= time and (a.resolved_at is None or a.resolved_at > time)
    ]
    return sorted(active, key=lambda a: (-a.severity.rank, -a.opened_at))


def build_frame(
    sensors: Sequence[Sensor],
    metric: str,
    time: float,
    *,
    metric_readings: Mapping[str, tuple[float, float]],
    last_seen: Mapping[str, float],
    alerts: Iterable[Alert],
    resolution_s: float = 0.0,
) -> Frame:
    """A frame from each sensor's latest ``(time, value)`` of ``metric`` at ``time``, the time
    it last reported anything, and the alerts open then; stale values are dropped (grey)."""
    active = open_at(alerts, time)
    severity = worst_severity(active)
    values: dict[str, float] = {}
    states: dict[str, SensorState] = {}
    for sensor in sensors:
        reading = metric_readings.get(sensor.id)
        fresh = reading is not None and is_fresh(sensor, reading[0], time, resolution_s)
        if reading is not None and fresh and math.isfinite(reading[1]):
            values[sensor.id] = reading[1]
        states[sensor.id] = sensor_state(
            sensor,
            last_seen.get(sensor.id),
            severity.get(sensor.id),
            time,
            resolution_s=resolution_s,
        )
    return Frame(
        time=time,
        metric=metric,
        values=values,
        states=states,
        health=zone_health(sensors, active),
        alerts=active,
    )
