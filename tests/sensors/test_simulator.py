"""The simulator: its clock, its readings (valid SenML for the real layout) and its hazards."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from models.nanjing import load_nanjing
from models.types import Building, SensorKind
from sensors.senml import RegisteredChannel, parse_senml
from sensors.simulator import (
    SHANGHAI,
    SensorModel,
    SimClock,
    default_start,
    night_construction,
    senml_pack,
    tilt_drift,
)


@pytest.fixture(scope="module")
def building() -> Building:
    return load_nanjing()[1]


def test_clock_runs_fast_until_it_reaches_the_present() -> None:
    wall = [1000.0]
    clock = SimClock(start=400.0, speed=60.0, wall=lambda: wall[0])
    assert clock.now() == 400.0
    wall[0] = 1005.0
    assert clock.now() == 700.0
    wall[0] = 1020.0
    assert clock.now() == 1020.0  # caught up: live from here on


def test_default_start_is_a_recent_evening_so_the_night_plays_early() -> None:
    now = datetime(2026, 11, 25, 5, 24, tzinfo=SHANGHAI).timestamp()
    start = datetime.fromtimestamp(default_start(now), SHANGHAI)
    assert (start.day, start.hour, start.minute) == (24, 21, 45)
    just_after = datetime(2026, 11, 25, 22, 0, tzinfo=SHANGHAI).timestamp()
    assert now - 26 * 3600 < default_start(just_after) <= just_after - 3600


def test_every_sensor_reports_valid_senml_for_the_registered_channels(building: Building) -> None:
    registry = {
        ch.id: RegisteredChannel(s.device_id, ch.unit)
        for s in building.sensors
        for ch in s.channels
    }
    model = SensorModel()
    t0 = datetime(2026, 11, 25, 12, 0, tzinfo=SHANGHAI).timestamp()
    seen = set()
    by_device: dict[str, list] = {}
    for sensor in building.sensors:
        by_device.setdefault(sensor.device_id, []).append(sensor)
    for device, sensors in by_device.items():
        pack = senml_pack(model, sensors, [t0 + 60 * i for i in range(10)])
        result = parse_senml(
            json.dumps(pack).encode(), device_id=device, now=t0 + 600, registry=registry
        )
        assert result.rejections == []
        seen |= {r.channel_id for r in result.readings}
    assert seen == set(registry)


def test_baseline_stays_inside_the_limits_the_rules_enforce(building: Building) -> None:
    model = SensorModel()
    day0 = datetime(2026, 11, 25, 0, 0, tzinfo=SHANGHAI).timestamp()
    for sensor in building.sensors:
        for minute in range(0, 24 * 60, 7):
            t = day0 + minute * 60
            hour = minute // 60
            if sensor.kind is SensorKind.NOISE:
                limit = 60.0 if 6 <= hour < 22 else 50.0  # GB 3096 class 2
                assert model.value(sensor, "laeq", t) < limit, (sensor.id, hour)
            if sensor.kind is SensorKind.TILT:
                assert abs(model.value(sensor, "x", t)) < 2.25
            if sensor.kind is SensorKind.CLIMATE and sensor.zone == "interior":
                assert model.value(sensor, "rh", t) < 80.0


def test_hazards_are_injected_where_and_when_the_scenario_says(building: Building) -> None:
    start = datetime(2026, 11, 24, 21, 45, tzinfo=SHANGHAI).timestamp()
    construction = night_construction(building, start)
    drift = tilt_drift(building, start)
    model = SensorModel([construction, drift])
    quiet = SensorModel()
    noise = next(s for s in building.sensors if s.kind is SensorKind.NOISE)
    during = datetime(2026, 11, 24, 23, 0, tzinfo=SHANGHAI).timestamp()
    before = datetime(2026, 11, 24, 22, 0, tzinfo=SHANGHAI).timestamp()
    assert model.value(noise, "laeq", during) - quiet.value(noise, "laeq", during) == pytest.approx(
        24, abs=0.01
    )
    assert model.value(noise, "laeq", before) == quiet.value(noise, "laeq", before)
    (leaning,) = (s for s in building.sensors if s.id in drift.sensor_ids)
    later = start + 3600 + 10 * 3600
    assert model.value(leaning, "x", later) - quiet.value(leaning, "x", later) == pytest.approx(
        4.0, abs=0.01
    )
    assert model.value(leaning, "y", later) == quiet.value(leaning, "y", later)


def test_a_silenced_sensor_is_left_out_of_the_pack(building: Building) -> None:
    from sensors.simulator import Scenario

    t0 = datetime(2026, 11, 25, 12, 0, tzinfo=SHANGHAI).timestamp()
    climate = [s for s in building.sensors if s.device_id == "climate-3f"]
    dead = Scenario(
        "dead", frozenset({climate[0].id}), t0, t0 + 3600, lambda s, m, t, v: v, silences=True
    )
    pack = senml_pack(SensorModel([dead]), climate, [t0 + 300 * i for i in range(-2, 14)])
    names = [r["n"] for r in pack]
    reported = {
        (n, round(float(pack[0]["bt"]) + float(r.get("t", 0))))  # type: ignore[arg-type]
        for n, r in zip(names, pack, strict=True)
    }
    first = climate[0].id
    assert (f"{first}/t", round(t0 - 300)) in reported
    assert not any(n.startswith(first) and t0 <= t < t0 + 3600 for n, t in reported)
    assert (f"{first}/t", round(t0 + 3600)) in reported
    assert any(n.startswith(climate[1].id) and t0 <= t < t0 + 3600 for n, t in reported)
