"""Threshold rules from the rules file: limits, day/night, and update/scan agreement."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from alerts.catalogue import detectors_for
from alerts.detectors import Detector, ThresholdDetector
from alerts.rules import RulesError, load_rules
from alerts.structural import VibrationLimitDetector
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


def by_rule(detectors: list[Detector]) -> dict[str, Detector]:
    return {d.rule_id: d for d in detectors}


def test_channels_get_the_rules_that_apply() -> None:
    detectors = {
        cid: set(by_rule(ds)) for cid, ds in detectors_for(load_rules(), building()).items()
    }
    quality = {"spike", "stuck"}
    assert detectors["noise-n/laeq"] == {
        "noise-limit",
        "construction-noise",
        "anomaly",
        "change-point",
        "silent",
        *quality,
    }
    assert detectors["noise-n/lmax"] == {"noise-lmax-night", "construction-lmax-night", "stuck"}
    assert detectors["tilt-ne/x"] == {"tilt-limit", "tilt-trend", "silent", *quality}
    assert detectors["tilt-ne/t"] == quality
    assert detectors["th-in/rh"] == {
        "mould-risk",
        "condensation",
        "fast-change",
        "anomaly",
        "change-point",
        *quality,
    }
    assert detectors["th-out/rh"] == {"fast-change", *quality}  # outdoor air: no mould rule


def test_covariates_are_sibling_channels() -> None:
    detectors = detectors_for(load_rules(), building())
    assert by_rule(detectors["tilt-ne/x"])["tilt-trend"].covariates == ("tilt-ne/t",)
    assert by_rule(detectors["th-in/rh"])["condensation"].covariates == ("th-in/t",)


def test_noise_limit_depends_on_day_and_night() -> None:
    noise = by_rule(detectors_for(load_rules(), building())["noise-n/laeq"])["noise-limit"]
    assert noise.update(at(14), 62.0) is None  # class 4a day limit 70
    night = noise.update(at(23), 62.0)  # night limit 55
    assert night is not None and night.severity is Severity.WARNING and night.limit == 55
    assert "night-time" in night.message and "GB 3096-2008" in night.message
    loud = noise.update(at(23), 70.0)
    assert loud is not None and loud.severity is Severity.ALARM
    assert noise.update(at(6, 30), 62.0) is None


def test_tilt_limit_by_building_height_in_both_directions() -> None:
    tilt = by_rule(detectors_for(load_rules(), building(height_m=40.0))["tilt-ne/x"])["tilt-limit"]
    assert tilt.update(0, 2.0) is None
    warn = tilt.update(0, -2.4)  # 75% of 3.0 mrad for 24-60 m
    assert warn is not None and warn.severity is Severity.WARNING and warn.limit == 3.0
    alarm = tilt.update(0, 3.1)
    assert alarm is not None and alarm.severity is Severity.ALARM
    low = by_rule(detectors_for(load_rules(), building(height_m=20.0))["tilt-ne/x"])["tilt-limit"]
    assert low.update(0, 2.4) is None  # 4.0 mrad allowed below 24 m


def test_threshold_scan_gives_the_same_findings_as_update() -> None:
    rules = load_rules()
    for detectors in detectors_for(rules, building()).values():
        for detector in detectors:
            if detector.rule_id not in ("noise-limit", "tilt-limit"):
                continue
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


def test_vibration_limit_is_the_heritage_limit_or_din_line_3_by_frequency() -> None:
    from dataclasses import replace

    from models.nanjing import load_nanjing

    nanjing = load_nanjing()[1]
    found = by_rule(detectors_for(load_rules(), nanjing)["vib-found-sw/ppv"])["vibration-limit"]
    alarm = found.update(at(23), 0.5)
    assert alarm is not None and alarm.limit == 0.45 and "GB/T 50452-2008" in alarm.standard
    unlisted = replace(nanjing, id="not-listed")
    made = detectors_for(load_rules(), unlisted)
    foundation = by_rule(made["vib-found-sw/ppv"])["vibration-limit"]
    foundation.feed("vib-found-sw/f1", at(23), 30.0)
    assert foundation.update(at(23), 4.0) is None  # DIN line 3: 5.5 mm/s at 30 Hz
    foundation.feed("vib-found-sw/f1", at(23), 5.0)
    low = foundation.update(at(23), 4.0)  # 3 mm/s below 10 Hz
    assert low is not None and low.limit == 3.0 and "DIN 4150-3" in low.standard
    roof = by_rule(made["vib-roof/ppv"])["vibration-limit"]
    roof.feed("vib-roof/f1", at(23), 5.0)
    assert roof.update(at(23), 4.0) is None  # 8 mm/s at the top floor
    stiffness = by_rule(made["vib-roof/f1"])["stiffness-loss"]
    (temperature,) = stiffness.covariates
    source = next(s for s in nanjing.sensors if s.id == temperature.split("/")[0])
    assert temperature.endswith("/t") and source.zone != "interior"  # outdoor air or structure


def test_construction_at_night_is_judged_on_laeq_and_lmax() -> None:
    made = detectors_for(load_rules(), building())
    site = by_rule(made["noise-n/laeq"])["construction-noise"]
    assert site.update(at(14), 65.0) is None  # day limit 70
    night = site.update(at(23), 58.0)
    assert night is not None and night.limit == 55 and "GB 12523-2011" in night.standard
    lmax = by_rule(made["noise-n/lmax"])["construction-lmax-night"]
    assert lmax.update(at(14), 90.0) is None  # no Lmax rule by day
    peak = lmax.update(at(2), 72.0)
    assert peak is not None and peak.limit == 70


def test_waveform_channels_per_axis_get_the_vibration_limit() -> None:
    vib = Sensor(
        id="vib",
        kind=SensorKind.VIBRATION,
        device_id="d",
        floor=1,
        zone="foundation",
        position=(0, 0, 0),
        normal=(0, 0, 1),
        channels=(Channel("vib", "ppv_z", "mm/s"), Channel("vib", "f1", "Hz")),
    )
    made = detectors_for(
        load_rules(), Building("x", "X", "", "rc", 2, ((0, 0, 0), (1, 1, 1)), "m", (vib,))
    )
    limit = by_rule(made["vib/ppv_z"])["vibration-limit"]
    assert limit.covariates == ("vib/f1",)


def test_limit_shortcuts_change_no_verdict() -> None:
    """Thresholds skip the level lookup below their lowest warning, the vibration limit below
    its lowest limit: over a sweep of times and values both judge as without the shortcut."""
    from models.nanjing import load_nanjing

    ts = np.arange(at(0), at(0) + 2 * 86_400.0, 3_600.0)
    made = {
        **detectors_for(load_rules(), building()),
        **detectors_for(load_rules(), load_nanjing()[1]),
    }
    checked = set()
    for detectors in made.values():
        for detector in detectors:
            if isinstance(detector, ThresholdDetector):
                plain = ThresholdDetector(
                    rule_id=detector.rule_id,
                    channel_id=detector.channel_id,
                    levels_at=detector.levels_at,
                    standard=detector.standard,
                    explain=detector.explain,
                    magnitude=detector.magnitude,
                )
                for x in np.linspace(-5.0, 100.0, 106):
                    for t in ts:
                        assert detector.update(t, x) == plain.update(t, x), (detector.rule_id, x)
                checked.add(detector.rule_id)
            elif isinstance(detector, VibrationLimitDetector):
                channel = detector.frequency_channel
                for f in (None, 0.5, 5.0, 10.0, 30.0, 75.0, 200.0):
                    if f is not None and channel:
                        detector.feed(channel, ts[0], f)
                    frequency = detector.covariate(channel) if channel else None
                    limit, _ = detector.limit(frequency)
                    for x in np.linspace(0.0, 12.0, 481):
                        fires = x >= detector.warning_fraction * limit
                        assert (detector.update(ts[0], x) is not None) == fires, (f, x)
                checked.add(detector.rule_id)
    assert checked == {
        "noise-limit",
        "construction-noise",
        "noise-lmax-night",
        "construction-lmax-night",
        "tilt-limit",
        "vibration-limit",
    }
