"""Which detectors each channel of a building gets, built from the rules file."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from alerts.climate import (
    CondensationDetector,
    MouldRiskDetector,
    RateOfChangeDetector,
)
from alerts.detectors import Detector, Levels, ThresholdDetector
from alerts.generic import (
    CusumDetector,
    FlatlineDetector,
    HampelDetector,
    LocalHour,
    RobustZScoreDetector,
    SilenceDetector,
)
from alerts.rules import Rules, RulesError
from alerts.structural import FrequencyShiftDetector, TiltTrendDetector, VibrationLimitDetector
from models.types import Building, Sensor, SensorKind, channel_id

HOUR_S = 3600.0


def detectors_for(rules: Rules, building: Building) -> dict[str, list[Detector]]:
    """The detectors each channel of a building gets, keyed by the channel they judge."""
    try:
        return _Catalogue(rules, building).build()
    except (KeyError, TypeError, ValueError) as exc:
        raise RulesError(f"the rules file lacks or mangles {exc!r}") from exc


class _Catalogue:
    def __init__(self, rules: Rules, building: Building) -> None:
        self.rules, self.building = rules, building
        self.height_m = building.bounds[1][2] - building.bounds[0][2]
        self.generic = rules.section("generic")
        self.zone = rules.noise_zones.get(building.noise_zone)
        if self.zone is None:
            raise RulesError(
                f"building {building.id} is in noise zone {building.noise_zone}, "
                f"which the rules file does not list (known: {sorted(rules.noise_zones)})"
            )

    def build(self) -> dict[str, list[Detector]]:
        out: dict[str, list[Detector]] = {}
        for sensor in self.building.sensors:
            for ch in sensor.channels:
                made = self.hazards(sensor, ch.metric, ch.id) + self.quality(sensor, ch.metric)
                if made:
                    out[ch.id] = made
            if sensor.channels:
                first = sensor.channels[0].id
                out.setdefault(first, []).append(
                    SilenceDetector(
                        channel_id=first,
                        expected_interval_s=sensor.expected_interval_s,
                        factor=float(self.generic["silent"]["factor"]),
                    )
                )
        return out

    # --- generic, every channel -------------------------------------------------------------
    def min_scale(self, metric: str) -> float:
        return float(self.generic["min_scale"].get(metric, 0.0))

    def quality(self, sensor: Sensor, metric: str) -> list[Detector]:
        cid = channel_id(sensor.id, metric)
        made: list[Detector] = [FlatlineDetector(channel_id=cid, **self.generic["stuck"])]
        if metric != "lmax":  # a maximum level is spiky by nature
            made.append(
                HampelDetector(
                    channel_id=cid, min_scale=self.min_scale(metric), **self.generic["spike"]
                )
            )
        anomaly_metrics = self.generic["anomaly_metrics"]
        interior_climate = sensor.kind is SensorKind.CLIMATE and sensor.zone == "interior"
        if metric in anomaly_metrics or interior_climate:
            tz, scale = self.rules.timezone, self.min_scale(metric)
            made.append(
                RobustZScoreDetector(
                    channel_id=cid, timezone=tz, min_scale=scale, **self.generic["anomaly"]
                )
            )
            made.append(
                CusumDetector(
                    channel_id=cid, timezone=tz, min_scale=scale, **self.generic["change_point"]
                )
            )
        return made

    # --- hazards by kind --------------------------------------------------------------------
    def hazards(self, sensor: Sensor, metric: str, cid: str) -> list[Detector]:
        rules = self.rules
        if sensor.kind is SensorKind.NOISE:
            return self.noise(sensor, metric, cid)
        if sensor.kind is SensorKind.TILT and metric in rules.tilt_metrics:
            return [self.tilt_limit(sensor, metric, cid), self.tilt_trend(sensor, cid)]
        if sensor.kind is SensorKind.VIBRATION:
            return self.vibration(sensor, metric, cid)
        if sensor.kind is SensorKind.CLIMATE:
            return self.climate(sensor, metric, cid)
        return []

    def noise(self, sensor: Sensor, metric: str, cid: str) -> list[Detector]:
        rules, zone = self.rules, self.zone
        assert zone is not None
        lmax = rules.section("noise", "lmax")
        site = rules.section("construction_noise")
        where = f"{sensor.id} ({sensor.zone}, floor {sensor.floor})"
        made: list[Detector] = []
        if metric == rules.noise_metric:
            made.append(
                self.day_night(
                    "noise-limit", cid, zone.day_db, zone.night_db, rules.noise_standard,
                    lambda period, x, lv: f"{period.capitalize()} noise at {where}: LAeq "
                    f"{x:.1f} dB(A) exceeds the {period} limit of {lv.limit:.0f} dB(A) for "
                    f"{zone.label} ({rules.noise_standard}).",
                )
            )  # fmt: skip
            if sensor.zone in site["zones"]:
                made.append(
                    self.day_night(
                        "construction-noise", cid, float(site["day_db"]), float(site["night_db"]),
                        site["standard"],
                        lambda period, x, lv: f"{period.capitalize()} LAeq {x:.1f} dB(A) at "
                        f"{where} is over the {lv.limit:.0f} dB(A) that construction next door "
                        f"may emit ({site['standard']}).",
                    )
                )  # fmt: skip
        elif metric == lmax["metric"]:
            night_lmax = zone.night_db + float(lmax["night_margin_db"])
            made.append(
                self.day_night(
                    "noise-lmax-night", cid, math.inf, night_lmax, lmax["standard"],
                    lambda period, x, lv: f"Night-time Lmax {x:.1f} dB(A) at {where} is over "
                    f"{lv.limit:.0f} dB(A), the night limit plus {lmax['night_margin_db']} dB "
                    f"({lmax['standard']}).",
                )
            )  # fmt: skip
            if sensor.zone in site["zones"]:
                site_lmax = float(site["night_db"]) + float(site["night_lmax_margin_db"])
                made.append(
                    self.day_night(
                        "construction-lmax-night", cid, math.inf, site_lmax, site["standard"],
                        lambda period, x, lv: f"Night-time Lmax {x:.1f} dB(A) at {where} is over "
                        f"the {lv.limit:.0f} dB(A) that construction next door may reach at "
                        f"night ({site['standard']}).",
                    )
                )  # fmt: skip
        return made

    def day_night(
        self,
        rule_id: str,
        cid: str,
        day_db: float,
        night_db: float,
        standard: str,
        explain: Callable[[str, float, Levels], str],
    ) -> Detector:
        rules = self.rules
        margin = rules.noise_alarm_margin_db
        day, night = (
            Levels(day_db, day_db + margin, day_db),
            Levels(night_db, night_db + margin, night_db),
        )

        clock = LocalHour(rules.timezone)
        day_hours = range(rules.day_start_hour, rules.night_start_hour)
        by_hour = [day if hour in day_hours else night for hour in range(24)]

        def levels(t: float) -> Levels:
            # Readings come in time order: the clock's last hour mostly still holds.
            return by_hour[clock.hour if clock.begins <= t < clock.ends else clock(t)]

        return ThresholdDetector(
            rule_id=rule_id,
            channel_id=cid,
            levels_at=levels,
            standard=standard,
            explain=lambda t, x, lv: explain("night-time" if lv is night else "daytime", x, lv),
            lowest_warning=min(day.warning, night.warning),
        )  # fmt: skip

    def tilt_limit(self, sensor: Sensor, metric: str, cid: str) -> Detector:
        rules, height_m = self.rules, self.height_m
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
            lowest_warning=fixed.warning,
        )

    def tilt_trend(self, sensor: Sensor, cid: str) -> Detector:
        trend: dict[str, Any] = self.rules.section("tilt", "trend")
        temperature = channel_id(sensor.id, self.rules.section("tilt", "temperature_metric"))
        return TiltTrendDetector(
            channel_id=cid,
            temperature_channel=temperature,
            limit_mrad=self.rules.tilt_limit_mrad(self.height_m),
            rate_limit_mrad_per_day=float(trend["rate_limit_mrad_per_day"]),
            alarm_within_days=float(trend["alarm_within_days"]),
            window_s=float(trend["window_h"]) * HOUR_S,
            every_s=float(trend["every_h"]) * HOUR_S,
            learn_s=float(trend["learn_h"]) * HOUR_S,
            standard=f"{self.rules.tilt_standard} limit; Theil-Sen trend",
        )

    def vibration(self, sensor: Sensor, metric: str, cid: str) -> list[Detector]:
        vib = self.rules.section("vibration")
        # Waveform ingest derives one PPV channel per axis: ``ppv_x``, ``ppv_y``, ``ppv_z``.
        if metric == vib["ppv_metric"] or metric.startswith(vib["ppv_metric"] + "_"):
            din = vib["din"]
            foundation = sensor.zone in din["foundation_zones"]
            curve = [tuple(p) for p in din["foundation"]] if foundation else [
                (1.0, float(din["upper_floor_mm_s"])), (100.0, float(din["upper_floor_mm_s"]))
            ]  # fmt: skip
            has_f = any(ch.metric == vib["frequency_metric"] for ch in sensor.channels)
            return [
                VibrationLimitDetector(
                    channel_id=cid,
                    heritage_limit_mm_s=self.heritage_limit(),
                    din_curve=curve,
                    frequency_channel=channel_id(sensor.id, vib["frequency_metric"])
                    if has_f
                    else None,
                    warning_fraction=float(vib["warning_fraction"]),
                    heritage_standard=vib["heritage"]["standard"],
                    din_standard=din["standard"],
                )
            ]
        if metric == vib["frequency_metric"]:
            temperature = self.outdoor_temperature(sensor, vib["temperature_metric"])
            if temperature is None:
                return []
            stiff = vib["stiffness"]
            return [
                FrequencyShiftDetector(
                    channel_id=cid,
                    temperature_channel=temperature,
                    learn_s=float(stiff["learn_h"]) * HOUR_S,
                    smoothing=float(stiff["smoothing"]),
                    warning_drop=float(stiff["warning_drop"]),
                    alarm_drop=float(stiff["alarm_drop"]),
                    standard=stiff["standard"],
                )
            ]
        return []

    def heritage_limit(self) -> float | None:
        heritage = self.rules.section("vibration", "heritage")
        level = heritage["protection"].get(self.building.id)
        if level is None:
            return None
        structure = self.building.structure_type.lower()
        for word, material in heritage["materials"]:
            if word in structure:
                return float(heritage["limits_mm_s"][material][level])
        return None

    def outdoor_temperature(self, sensor: Sensor, metric: str) -> str | None:
        """The nearest outdoor temperature channel: what warms and cools the structure."""
        candidates = [
            (sum((a - b) ** 2 for a, b in zip(s.position, sensor.position, strict=True)), s.id)
            for s in self.building.sensors
            if s.zone != "interior" and any(ch.metric == metric for ch in s.channels)
        ]
        return channel_id(min(candidates)[1], metric) if candidates else None

    def climate(self, sensor: Sensor, metric: str, cid: str) -> list[Detector]:
        rules = self.rules
        fast = rules.section("fast_change")
        made: list[Detector] = []
        if metric in fast["limits"]:
            made.append(
                RateOfChangeDetector(
                    channel_id=cid,
                    max_change=float(fast["limits"][metric]),
                    window_s=float(fast["window_min"]) * 60.0,
                    unit=fast["units"].get(metric, ""),
                )
            )
        if metric != rules.humidity_metric or sensor.zone not in rules.humidity_zones:
            return made
        humidity = rules.section("humidity")
        made.append(
            MouldRiskDetector(
                channel_id=cid,
                warning_rh=rules.humidity_warning_rh,
                alarm_rh=rules.humidity_alarm_rh,
                sustain_s=float(humidity["sustain_h"]) * HOUR_S,
                standard=rules.humidity_standard,
            )
        )
        temperature = humidity["temperature_metric"]
        if any(ch.metric == temperature for ch in sensor.channels):
            cond = humidity["condensation"]
            made.append(
                CondensationDetector(
                    channel_id=cid,
                    temperature_channel=channel_id(sensor.id, temperature),
                    surface_channel=channel_id(sensor.id, "ts")
                    if any(ch.metric == "ts" for ch in sensor.channels)
                    else None,
                    warning_margin_c=float(cond["warning_margin_c"]),
                    alarm_margin_c=float(cond["alarm_margin_c"]),
                    standard=cond["standard"],
                )
            )
        return made
