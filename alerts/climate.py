"""Climate detectors: sustained high humidity (mould), air near its dew point (condensation)
and fast changes (a leak, a fire, a failed HVAC plant)."""

from __future__ import annotations

import math
from collections import deque

from alerts.detectors import BaseDetector
from models.types import Finding, Severity

# Magnus formula coefficients over water (Sonntag 1990), good to 0.1 °C from -45 to 60 °C.
MAGNUS_A = 17.62
MAGNUS_B_C = 243.12


def dew_point_c(temperature_c: float, rh_percent: float) -> float:
    """Dew point of air at ``temperature_c`` and ``rh_percent``.

    >>> round(dew_point_c(20.0, 50.0), 1)
    9.3
    """
    gamma = math.log(max(rh_percent, 0.1) / 100.0) + MAGNUS_A * temperature_c / (
        MAGNUS_B_C + temperature_c
    )
    return MAGNUS_B_C * gamma / (MAGNUS_A - gamma)


class MouldRiskDetector(BaseDetector):
    """Relative humidity at or above ``warning_rh`` without a break for ``sustain_s``."""

    learned = ("_above_since",)

    def __init__(
        self,
        *,
        channel_id: str,
        warning_rh: float = 80.0,
        alarm_rh: float = 90.0,
        sustain_s: float = 4 * 3600.0,
        rule_id: str = "mould-risk",
        standard: str = "IEA Annex 14 (RH 80%)",
    ) -> None:
        self.rule_id, self.channel_id, self.standard = rule_id, channel_id, standard
        self.warning_rh, self.alarm_rh, self.sustain_s = warning_rh, alarm_rh, sustain_s
        self._start()

    def reset(self) -> None:
        self._above_since: float | None = None

    def update(self, t: float, x: float) -> Finding | None:
        if x < self.warning_rh:
            self._above_since = None
            return None
        if self._above_since is None:
            self._above_since = t
        hours = (t - self._above_since) / 3600.0
        if t - self._above_since < self.sustain_s:
            return None
        return self.finding(
            t,
            Severity.ALARM if x >= self.alarm_rh else Severity.WARNING,
            x,
            self.warning_rh,
            f"Relative humidity at {self.channel_id.split('/')[0]} has stayed at or above "
            f"{self.warning_rh:.0f}% for {hours:.1f} h (now {x:.0f}%): mould risk "
            f"({self.standard}).",
        )


class CondensationDetector(BaseDetector):
    """The surface (or, without a surface probe, the air) within ``warning_margin_c`` of the
    dew point of the air; judged on the humidity channel, temperature as covariate."""

    def __init__(
        self,
        *,
        channel_id: str,
        temperature_channel: str,
        surface_channel: str | None = None,
        warning_margin_c: float = 3.0,
        alarm_margin_c: float = 1.0,
        rule_id: str = "condensation",
        standard: str = "dew point (Magnus formula), ISO 13788 practice",
    ) -> None:
        self.rule_id, self.channel_id, self.standard = rule_id, channel_id, standard
        self.temperature_channel, self.surface_channel = temperature_channel, surface_channel
        self.warning_margin_c, self.alarm_margin_c = warning_margin_c, alarm_margin_c
        self.covariates = (temperature_channel,) + ((surface_channel,) if surface_channel else ())
        self._start()

    def update(self, t: float, x: float) -> Finding | None:
        air = self.covariate(self.temperature_channel)
        if air is None:
            return None
        surface = self.covariate(self.surface_channel) if self.surface_channel else None
        cold = air if surface is None else surface
        dew = dew_point_c(air, x)
        margin = cold - dew
        if margin > self.warning_margin_c:
            return None
        what = "air" if surface is None else "surface"
        return self.finding(
            t,
            Severity.ALARM if margin <= self.alarm_margin_c else Severity.WARNING,
            margin,
            self.warning_margin_c,
            f"Condensation risk at {self.channel_id.split('/')[0]}: {what} at {cold:.1f} °C is "
            f"{margin:.1f} °C above the dew point {dew:.1f} °C ({x:.0f}% RH).",
        )


class RateOfChangeDetector(BaseDetector):
    """A change of more than ``max_change`` within ``window_s``. Levels are medians of the
    ``smooth`` newest and oldest readings in the window, so a single glitch is not a change."""

    learned = ("_times", "_values")

    def __init__(
        self,
        *,
        channel_id: str,
        max_change: float,
        window_s: float = 1800.0,
        smooth: int = 3,
        unit: str = "",
        rule_id: str = "fast-change",
        standard: str = "rate-of-change limit (leak, fire, HVAC failure)",
    ) -> None:
        self.rule_id, self.channel_id, self.standard = rule_id, channel_id, standard
        self.max_change, self.window_s, self.smooth, self.unit = (
            max_change,
            window_s,
            smooth,
            unit,
        )
        self._start()

    def reset(self) -> None:
        self._times: deque[float] = deque()
        self._values: deque[float] = deque()

    @staticmethod
    def _level(values: list[float]) -> float:
        if len(values) == 3:  # the usual case, without a sort
            a, b, c = values
            return a + b + c - max(a, b, c) - min(a, b, c)
        return sorted(values)[len(values) // 2]

    def update(self, t: float, x: float) -> Finding | None:
        times, values = self._times, self._values
        times.append(t)
        values.append(x)
        cutoff = t - self.window_s
        while times[0] < cutoff:
            times.popleft()
            values.popleft()
        k = self.smooth
        if len(values) < 2 * k:
            return None
        if k == 3:
            # ``_level`` of the three oldest and the three newest, spelled out: the lists and
            # the max/min calls cost more than the arithmetic, and this runs for every reading.
            # The comparisons pick what max() and min() pick (the first of equals).
            a, b, c = values[0], values[1], values[2]
            hi = b if b > a else a
            lo = b if b < a else a
            old = a + b + c - (c if c > hi else hi) - (c if c < lo else lo)
            a, b, c = values[-1], values[-2], values[-3]
            hi = b if b > a else a
            lo = b if b < a else a
            change = a + b + c - (c if c > hi else hi) - (c if c < lo else lo) - old
        else:
            old = self._level([values[i] for i in range(k)])
            change = self._level([values[-i] for i in range(1, k + 1)]) - old
        if abs(change) <= self.max_change:
            return None
        minutes = (times[-1] - times[0]) / 60.0
        return self.finding(
            t,
            Severity.ALARM if abs(change) >= 2 * self.max_change else Severity.WARNING,
            change,
            self.max_change,
            f"{self.channel_id} changed by {change:+.1f}{self.unit} in {minutes:.0f} min "
            f"(limit {self.max_change:g}{self.unit} in {self.window_s / 60:.0f} min): "
            "a leak, a fire or a failed HVAC plant?",
        )
