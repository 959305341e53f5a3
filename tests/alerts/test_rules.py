"""Threshold rules from the rules file: limits, day/night, and update/scan agreement."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from alerts.rules import RulesError, detectors_for, load_rules
from models.types import Building, Channel, Sensor, SensorKind, Severity

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, 20, hour, minute, tzinfo=SHANGHAI).timestamp()


def sensor(sid: str, kind: SensorKind, zone: str, metrics: list[tuple[str, str]]) -> Sensor:
    return Sensor(
        id=sid,
        kind=kind,
        device_id="d",
        floor=2,
        zone=zone,
        position=(0, 0, 0),
        normal=(0, 0, 1),
        channels=tuple(Channel(sid, m, u) for m, u in metrics),
    )


def building(height_m: float = 40.0, noise_zone: int = 4) -> Building:
    return Building(
        id="b",
        name="B",
        address="",
        structure_type="rc",
        noise_zone=noise_zone,
        bounds=((0, 0, 0), (30, 20, height_m)),
        model="m",
        sensors=(
            sensor("noise-n", SensorKind.NOISE, "north-facade", [("laeq", "dB"), ("lmax", "dB")]),
            sensor(
                "tilt-ne",
                SensorKind.TILT,
                "corner-ne",
                [("x", "mrad"), ("y", "mrad"), ("t", "Cel")],
            ),
            sensor("th-in", SensorKind.CLIMATE, "interior", [("t", "Cel"), ("rh", "%RH")]),
            sensor("th-out", SensorKind.CLIMATE, "north-facade", [("t", "Cel"), ("rh", "%RH")]),
        ),
    )


def test_channels_get_the_rules_that_apply() -> None:
    detectors = detectors_for(load_rules(), building())
    assert sorted(detectors) == ["noise-n/laeq", "th-in/rh", "tilt-ne/x", "tilt-ne/y"]


def test_noise_limit_depends_on_day_and_night() -> None:
    (noise,) = detectors_for(load_rules(), building())["noise-n/laeq"]
    assert noise.update(at(14), 62.0) is None  # class 4a day limit 70
    night = noise.update(at(23), 62.0)  # night limit 55
    assert night is not None and night.severity is Severity.WARNING and night.limit == 55
    assert "night-time" in night.message and "GB 3096-2008" in night.message
    loud = noise.update(at(23), 70.0)
    assert loud is not None and loud.severity is Severity.ALARM
    assert noise.update(at(6, 30), 62.0) is None


def test_tilt_limit_by_building_height_in_both_directions() -> None:
    (tilt,) = detectors_for(load_rules(), building(height_m=40.0))["tilt-ne/x"]
    assert tilt.update(0, 2.0) is None
    warn = tilt.update(0, -2.4)  # 75% of 3.0 mrad for 24-60 m
    assert warn is not None and warn.severity is Severity.WARNING and warn.limit == 3.0
    alarm = tilt.update(0, 3.1)
    assert alarm is not None and alarm.severity is Severity.ALARM
    (low,) = detectors_for(load_rules(), building(height_m=20.0))["tilt-ne/x"]
    assert low.update(0, 2.4) is None  # 4.0 mrad allowed below 24 m


def test_scan_gives_the_same_findings_as_update() -> None:
    rules = load_rules()
    for detectors in detectors_for(rules, building()).values():
        for detector in detectors:
            ts = np.arange(at(20), at(20) + 6 * 3600, 600.0)
            xs = np.linspace(40.0, 95.0, ts.size)
            streamed = [f for t, x in zip(ts, xs, strict=True) if (f := detector.update(t, x))]
            assert detector.scan(ts, xs) == streamed
            assert streamed, detector.channel_id  # the ramp crosses every limit


def test_unknown_noise_zone_is_a_clear_error() -> None:
    with pytest.raises(RulesError, match="noise zone 9"):
        detectors_for(load_rules(), building(noise_zone=9))


def test_broken_rules_file_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("timezone: Asia/Shanghai\nnoise: {}\n")
    with pytest.raises(RulesError, match="invalid"):
        load_rules(bad)
