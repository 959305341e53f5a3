"""The rules file: limits, the standards behind them, and the scales of the generic detectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

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
    sections: Mapping[str, Any]  # the newer sections as parsed YAML, read by alerts.catalogue

    def section(self, *path: str) -> Any:
        """A nested section of the rules file, e.g. ``section("vibration", "din")``."""
        node: Any = self.sections
        for key in path:
            node = node[key]
        return node

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
        sections={k: raw[k] for k in _SECTIONS},
    )


_SECTIONS = (
    "noise",
    "construction_noise",
    "tilt",
    "vibration",
    "humidity",
    "fast_change",
    "generic",
)
