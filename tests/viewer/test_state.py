"""Sensor states, fresh values, zone health and alerts open at a moment."""

from __future__ import annotations

import pytest

from models.types import Alert, AlertState, Channel, Sensor, SensorKind, Severity
from viewer.state import HEALTH, SensorState, build_frame, open_at, sensor_state, worst_state


def sensor(sensor_id: str, zone: str, interval_s: float = 60.0) -> Sensor:
    return Sensor(
        sensor_id,
        SensorKind.CLIMATE,
        "dev",
        1,
        zone,
        (0.0, 0.0, 0.0),
        (0.0, -1.0, 0.0),
        (Channel(sensor_id, "t", "Cel"),),
        expected_interval_s=interval_s,
    )


def alert(
    sensor_id: str, severity: Severity, opened: float, resolved: float | None = None
) -> Alert:
    return Alert(
        f"a-{sensor_id}-{opened}",
        "b",
        sensor_id,
        f"{sensor_id}/t",
        "rule",
        AlertState.RESOLVED if resolved else AlertState.OPEN,
        severity,
        opened,
        opened,
        1.0,
        1.0,
        0.5,
        "std",
        "msg",
        resolved_at=resolved,
    )


@pytest.mark.parametrize(
    ("age_s", "expected"),
    [
        (0.0, SensorState.OK),
        (180.0, SensorState.OK),  # exactly three intervals: still fresh
        (181.0, SensorState.STALE),
        (600.0, SensorState.STALE),
        (601.0, SensorState.OFFLINE),
    ],
)
def test_state_by_age_of_last_report(age_s: float, expected: SensorState) -> None:
    assert sensor_state(sensor("s", "z"), 1000.0 - age_s, None, 1000.0) is expected


def test_never_seen_is_offline_and_an_alert_wins_over_missing_data() -> None:
    s = sensor("s", "z")
    assert sensor_state(s, None, None, 1000.0) is SensorState.OFFLINE
    assert sensor_state(s, None, Severity.ALARM, 1000.0) is SensorState.ALARM
    assert sensor_state(s, 999.0, Severity.WARNING, 1000.0) is SensorState.WARNING
    assert sensor_state(s, 999.0, Severity.INFO, 1000.0) is SensorState.OK


def test_frame_drops_stale_and_future_values() -> None:
    sensors = [sensor("fresh", "z"), sensor("stale", "z"), sensor("future", "z")]
    frame = build_frame(
        sensors,
        "t",
        1000.0,
        metric_readings={"fresh": (990.0, 21.0), "stale": (500.0, 30.0), "future": (1010.0, 5.0)},
        last_seen={"fresh": 990.0, "stale": 500.0, "future": 1010.0},
        alerts=[],
    )
    assert frame.values == {"fresh": 21.0}  # the others show grey, not a last-known colour
    assert frame.states["stale"] is SensorState.STALE


def test_zone_health_spreads_the_worst_alert_over_its_zone() -> None:
    sensors = [sensor("a1", "south"), sensor("a2", "south"), sensor("b1", "west")]
    alerts = [alert("a1", Severity.WARNING, 900.0), alert("a2", Severity.ALARM, 950.0)]
    frame = build_frame(sensors, HEALTH, 1000.0, metric_readings={}, last_seen={}, alerts=alerts)
    assert frame.health == {"a1": 2.0, "a2": 2.0, "b1": 0.0}
    assert frame.colour_values() == frame.health
    assert [a.sensor_id for a in frame.alerts] == ["a2", "a1"]  # worst first


def test_open_at_respects_opening_and_resolution() -> None:
    early = alert("s", Severity.ALARM, 100.0, resolved=200.0)
    late = alert("s", Severity.WARNING, 300.0)
    assert open_at([early, late], 150.0) == [early]
    assert open_at([early, late], 200.0) == []  # resolved at 200: closed from then on
    assert open_at([early, late], 250.0) == []
    assert open_at([early, late], 300.0) == [late]


def test_worst_state_orders_alerts_before_missing_data() -> None:
    assert worst_state([SensorState.OK, SensorState.OFFLINE]) is SensorState.OFFLINE
    assert worst_state([SensorState.OFFLINE, SensorState.WARNING]) is SensorState.WARNING
    assert worst_state([SensorState.WARNING, SensorState.ALARM]) is SensorState.ALARM
    assert worst_state([]) is None
