"""The rules file (limits and their standards) and the detectors it gives each channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from alerts.detectors import Detector, Levels, ThresholdDetector
from models.types import Building, Sensor, SensorKind

DEFAULT_RULES = Path(__file__).with_name("rules.yaml")


class RulesError(ValueError):
    """The rules file is missing something or holds a value that makes no sense."""


@dataclass(frozen=True, slots=True)
class NoiseLimit:
    day_db: float
    night_db: float
    label: str


@dataclass(frozen=True, slots=True)
class Rules:
    """Parsed rules file; see ``alerts/rules.yaml`` for the meaning of each figure."""

    timezone: ZoneInfo
    noise_metric: str
    noise_standard: str
    day_start_hour: int
    night_start_hour: int
    noise_alarm_margin_db: float
    noise_zones: Mapping[int, NoiseLimit]
    tilt_metrics: tuple[str, ...]
    tilt_standard: str
    tilt_warning_fraction: float
    tilt_by_height: tuple[tuple[float, float], ...]  # (max height m, limit mrad), ascending
    humidity_metric: str
    humidity_standard: str
    humidity_zones: frozenset[str]
    humidity_warning_rh: float
    humidity_alarm_rh: float

    def is_night(self, t: float) -> bool:
        hour = datetime.fromtimestamp(t, self.timezone).hour
        return not (self.day_start_hour <= hour < self.night_start_hour)

    def tilt_limit_mrad(self, height_m: float) -> float:
        for max_height, limit in self.tilt_by_height:
            if height_m <= max_height:
                return limit
        return self.tilt_by_height[-1][1]


def load_rules(path: Path = DEFAULT_RULES) -> Rules:
    """Read and check a rules file, naming the missing or bad key on failure."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read rules file {path}: {exc}") from exc
    try:
        return _parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise RulesError(f"rules file {path} is invalid: {exc!r}") from exc


def _parse(raw: dict[str, Any]) -> Rules:
    noise, tilt, humidity = raw["noise"], raw["tilt"], raw["humidity"]
    by_height = tuple(
        sorted((float(r["max_height_m"]), float(r["limit_mrad"])) for r in tilt["by_height"])
    )
    if not by_height:
        raise ValueError("tilt.by_height is empty")
    return Rules(
        timezone=ZoneInfo(raw["timezone"]),
        noise_metric=noise["metric"],
        noise_standard=noise["standard"],
        day_start_hour=int(noise["day_start_hour"]),
        night_start_hour=int(noise["night_start_hour"]),
        noise_alarm_margin_db=float(noise["alarm_margin_db"]),
        noise_zones={
            int(zone): NoiseLimit(float(z["day"]), float(z["night"]), str(z["label"]))
            for zone, z in noise["zones"].items()
        },
        tilt_metrics=tuple(tilt["metrics"]),
        tilt_standard=tilt["standard"],
        tilt_warning_fraction=float(tilt["warning_fraction"]),
        tilt_by_height=by_height,
        humidity_metric=humidity["metric"],
        humidity_standard=humidity["standard"],
        humidity_zones=frozenset(humidity["zones"]),
        humidity_warning_rh=float(humidity["warning_rh"]),
        humidity_alarm_rh=float(humidity["alarm_rh"]),
    )


def detectors_for(rules: Rules, building: Building) -> dict[str, list[Detector]]:
    """The detectors each channel of a building gets, keyed by channel id."""
    out: dict[str, list[Detector]] = {}
    height_m = building.bounds[1][2] - building.bounds[0][2]
    for sensor in building.sensors:
        for ch in sensor.channels:
            made = _detectors(rules, building, height_m, sensor, ch.metric, ch.id)
            if made:
                out[ch.id] = made
    return out


def _detectors(
    rules: Rules, building: Building, height_m: float, sensor: Sensor, metric: str, cid: str
) -> list[Detector]:
    if sensor.kind is SensorKind.NOISE and metric == rules.noise_metric:
        return [_noise(rules, building, sensor, cid)]
    if sensor.kind is SensorKind.TILT and metric in rules.tilt_metrics:
        return [_tilt(rules, height_m, sensor, metric, cid)]
    if (
        sensor.kind is SensorKind.CLIMATE
        and metric == rules.humidity_metric
        and sensor.zone in rules.humidity_zones
    ):
        return [_humidity(rules, sensor, cid)]
    return []


def _noise(rules: Rules, building: Building, sensor: Sensor, cid: str) -> Detector:
    zone = rules.noise_zones.get(building.noise_zone)
    if zone is None:
        raise RulesError(
            f"building {building.id} is in noise zone {building.noise_zone}, "
            f"which the rules file does not list (known: {sorted(rules.noise_zones)})"
        )

    def levels(t: float) -> Levels:
        limit = zone.night_db if rules.is_night(t) else zone.day_db
        return Levels(limit, limit + rules.noise_alarm_margin_db, limit)

    def explain(t: float, x: float, lv: Levels) -> str:
        period = "night-time" if rules.is_night(t) else "daytime"
        return (
            f"{period.capitalize()} noise at {sensor.id} ({sensor.zone}, floor {sensor.floor}): "
            f"LAeq {x:.1f} dB(A) exceeds the {period} limit of {lv.limit:.0f} dB(A) "
            f"for {zone.label} ({rules.noise_standard})."
        )

    return ThresholdDetector(
        rule_id="noise-limit",
        channel_id=cid,
        levels_at=levels,
        standard=rules.noise_standard,
        explain=explain,
    )


def _tilt(rules: Rules, height_m: float, sensor: Sensor, metric: str, cid: str) -> Detector:
    limit = rules.tilt_limit_mrad(height_m)
    fixed = Levels(limit * rules.tilt_warning_fraction, limit, limit)

    def explain(t: float, x: float, lv: Levels) -> str:
        return (
            f"Tilt {metric} at {sensor.id} ({sensor.zone}) is {x:+.2f} mrad, "
            f"{abs(x) / lv.limit:.0%} of the {lv.limit:.1f} mrad allowable inclination "
            f"for a {height_m:.0f} m building ({rules.tilt_standard})."
        )

    return ThresholdDetector(
        rule_id="tilt-limit",
        channel_id=cid,
        levels_at=lambda t: fixed,
        standard=rules.tilt_standard,
        explain=explain,
        magnitude=True,
    )


def _humidity(rules: Rules, sensor: Sensor, cid: str) -> Detector:
    fixed = Levels(rules.humidity_warning_rh, rules.humidity_alarm_rh, rules.humidity_warning_rh)

    def explain(t: float, x: float, lv: Levels) -> str:
        return (
            f"Relative humidity at {sensor.id} (floor {sensor.floor}, {sensor.zone}) is "
            f"{x:.0f}% RH, above {lv.limit:.0f}%: mould risk ({rules.humidity_standard})."
        )

    return ThresholdDetector(
        rule_id="humidity-limit",
        channel_id=cid,
        levels_at=lambda t: fixed,
        standard=rules.humidity_standard,
        explain=explain,
    )
