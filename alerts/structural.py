"""Structure-aware detectors: vibration limits by dominant frequency, natural-frequency shift
and tilt trend, the last two with the temperature effect regressed out."""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np

from alerts.detectors import BaseDetector
from alerts.robust import median
from models.types import Finding, Severity

DAY_S = 86_400.0


class _TemperatureFit:
    """Least-squares line value = a + b * temperature, from running sums (checkpointable)."""

    def __init__(self) -> None:
        self.n = 0
        self.sums = [0.0, 0.0, 0.0, 0.0, 0.0]  # T, y, T², T·y, y²

    def add(self, temperature: float, y: float) -> None:
        self.n += 1
        s = self.sums
        s[0] += temperature
        s[1] += y
        s[2] += temperature * temperature
        s[3] += temperature * y
        s[4] += y * y

    def solve(self) -> tuple[float, float, float]:
        """Intercept, slope and mean temperature; slope 0 when the temperature hardly moved."""
        n, (st, sy, stt, sty, _) = self.n, self.sums
        mean_t, mean_y = st / n, sy / n
        var_t = stt / n - mean_t * mean_t
        slope = (sty / n - mean_t * mean_y) / var_t if var_t > 1e-6 else 0.0
        return mean_y - slope * mean_t, slope, mean_t


@lru_cache(maxsize=8)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs i < j of n points; the same few sizes recur every hour."""
    i, j = np.triu_indices(n, 1)
    return i, j


@lru_cache(maxsize=8)
def _spread(n: int, count: int) -> tuple[int, ...]:
    """``count`` indices spread evenly over ``n`` points; a window keeps about the same size."""
    return tuple(np.linspace(0, n - 1, count).astype(int).tolist())


def theil_sen(x: np.ndarray, y: np.ndarray, z: float = 2.5758) -> tuple[float, float, float, float]:
    """Theil-Sen slope, intercept and Sen's confidence interval of the slope (``z`` = 2.5758
    for 99%), as ``scipy.stats.theilslopes`` computes them, without its per-call overhead."""
    n = len(x)
    i, j = _pairs(n)
    dx, dy = x[j] - x[i], y[j] - y[i]
    if dx.all():  # the usual case, distinct times: no pairs to drop
        slopes = dy / dx
    else:
        keep = dx != 0
        slopes = dy[keep] / dx[keep]
    count = slopes.size
    if count == 0:  # every point at one time: no slope to speak of
        return 0.0, median(y.tolist()), 0.0, 0.0
    mid = count // 2
    sigma = math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)  # Sen (1968), no correction for ties
    # round() and np.round both round half to even.
    upper = min(round((count + z * sigma) / 2.0), count - 1)
    lower = max(round((count - z * sigma) / 2.0) - 1, 0)
    # Only four order statistics are needed: a partition finds them without a full sort.
    slopes = np.partition(slopes, sorted({lower, mid - 1 if count > 1 else mid, mid, upper}))
    slope = float(slopes[mid] if count % 2 else 0.5 * (slopes[mid - 1] + slopes[mid]))
    intercept = median(y.tolist()) - slope * median(x.tolist())
    return slope, intercept, float(slopes[lower]), float(slopes[upper])


class VibrationLimitDetector(BaseDetector):
    """Peak particle velocity against the stricter of the heritage limit (GB/T 50452) and the
    DIN 4150-3 line 3 value at the dominant frequency (from the ``frequency_channel``)."""

    def __init__(
        self,
        *,
        channel_id: str,
        heritage_limit_mm_s: float | None,
        din_curve: Sequence[tuple[float, float]],
        frequency_channel: str | None = None,
        warning_fraction: float = 0.8,
        heritage_standard: str = "GB/T 50452-2008",
        din_standard: str = "DIN 4150-3:2016 Table 1 line 3",
        rule_id: str = "vibration-limit",
    ) -> None:
        self.rule_id, self.channel_id = rule_id, channel_id
        self.heritage_limit_mm_s, self.din_curve = heritage_limit_mm_s, tuple(din_curve)
        self.frequency_channel, self.warning_fraction = frequency_channel, warning_fraction
        self.heritage_standard, self.din_standard = heritage_standard, din_standard
        self.covariates = (frequency_channel,) if frequency_channel else ()
        self._freqs = [float(f) for f, _ in self.din_curve]
        self._ppvs = [float(v) for _, v in self.din_curve]
        # No limit is below the lowest curve point or the heritage limit; a hair under that
        # (interpolation rounds) is where a reading can start to count. Most are far below.
        lowest = min(self._ppvs + ([] if heritage_limit_mm_s is None else [heritage_limit_mm_s]))
        positive = warning_fraction > 0 and lowest > 0
        self._quiet_below = 0.999 * warning_fraction * lowest if positive else -math.inf
        self._start()

    def din_limit(self, frequency_hz: float) -> float:
        """The DIN curve at a frequency, linear between its points, flat beyond its ends."""
        freqs, ppvs = self._freqs, self._ppvs
        i = bisect_right(freqs, frequency_hz)
        if i == 0:
            return ppvs[0]
        if i == len(freqs):
            return ppvs[-1]
        f0, f1 = freqs[i - 1], freqs[i]
        return ppvs[i - 1] + (ppvs[i] - ppvs[i - 1]) * (frequency_hz - f0) / (f1 - f0)

    def limit(self, frequency_hz: float | None) -> tuple[float, str]:
        # Without a frequency, the lowest band's value: the strictest, so the safe side.
        din = self.din_limit(self._freqs[0] if frequency_hz is None else frequency_hz)
        heritage = self.heritage_limit_mm_s
        if heritage is not None and heritage <= din:
            return heritage, self.heritage_standard
        return din, self.din_standard

    def update(self, t: float, x: float) -> Finding | None:
        if x < self._quiet_below:
            return None  # under any limit's warning, whatever the frequency: no lookup
        frequency = self.covariate(self.frequency_channel) if self.frequency_channel else None
        limit, standard = self.limit(frequency)
        if x < self.warning_fraction * limit:
            return None
        self.standard = standard
        at = f" at {frequency:.1f} Hz" if frequency is not None else ""
        return self.finding(
            t,
            Severity.ALARM if x >= limit else Severity.WARNING,
            x,
            limit,
            f"Peak particle velocity {x:.2f} mm/s at {self.channel_id.split('/')[0]}{at} is "
            f"{x / limit:.0%} of the {limit:.2f} mm/s limit ({standard}).",
        )


class FrequencyShiftDetector(BaseDetector):
    """A persistent drop of the natural frequency against a baseline learned as a line in
    temperature (warm structures soften every afternoon; a loss of stiffness does not recover).

    After ``learn_s`` of readings the line is fixed; then the smoothed relative residual is
    compared with ``warning_drop`` and ``alarm_drop`` (f scales with the square root of
    stiffness, so a 2% drop is about 4% stiffness lost).
    """

    learned = ("_fit", "_since", "_line", "_smoothed")

    def __init__(
        self,
        *,
        channel_id: str,
        temperature_channel: str,
        learn_s: float = 2 * DAY_S,
        smoothing: float = 0.05,
        warning_drop: float = 0.02,
        alarm_drop: float = 0.04,
        rule_id: str = "stiffness-loss",
        standard: str = "temperature-compensated natural frequency (SHM practice)",
    ) -> None:
        self.rule_id, self.channel_id, self.standard = rule_id, channel_id, standard
        self.temperature_channel, self.learn_s, self.smoothing = (
            temperature_channel,
            learn_s,
            smoothing,
        )
        self.warning_drop, self.alarm_drop = warning_drop, alarm_drop
        self.covariates = (temperature_channel,)
        self._start()

    def reset(self) -> None:
        self._fit = _TemperatureFit()
        self._since: float | None = None
        self._line: tuple[float, float] | None = None
        self._smoothed = 0.0

    def update(self, t: float, x: float) -> Finding | None:
        temperature = self.covariate(self.temperature_channel)
        if temperature is None:
            return None
        if self._line is None:
            if self._since is None:
                self._since = t
            if t - self._since < self.learn_s or self._fit.n < 10:
                self._fit.add(temperature, x)
                return None
            a, b, _ = self._fit.solve()
            self._line = (a, b)
        a, b = self._line
        expected = a + b * temperature
        self._smoothed += self.smoothing * (x / expected - 1.0 - self._smoothed)
        drop = -self._smoothed
        if drop < self.warning_drop:
            return None
        return self.finding(
            t,
            Severity.ALARM if drop >= self.alarm_drop else Severity.WARNING,
            expected * (1.0 - drop),
            expected * (1.0 - self.warning_drop),
            f"Natural frequency at {self.channel_id.split('/')[0]} is {drop:.1%} below the "
            f"{expected:.3f} Hz its baseline expects at {temperature:.1f} °C (temperature "
            f"effect removed): about {1 - (1 - drop) ** 2:.0%} loss of stiffness.",
        )


class TiltTrendDetector(BaseDetector):
    """A sustained tilt trend: Theil-Sen slope of the temperature-corrected tilt over
    ``window_s``, evaluated every ``every_s``, with a forecast of when it crosses the limit.

    The temperature coefficient is learned over the first ``learn_s``; between evaluations the
    last verdict stands (a finding again at each reading while the trend holds).
    """

    learned = ("_fit", "_since", "_coeff", "_window", "_next_eval", "_verdict")

    def __init__(
        self,
        *,
        channel_id: str,
        temperature_channel: str,
        limit_mrad: float,
        rate_limit_mrad_per_day: float = 0.2,
        alarm_within_days: float = 30.0,
        window_s: float = DAY_S,
        every_s: float = 3600.0,
        learn_s: float = 2 * DAY_S,
        max_points: int = 72,
        rule_id: str = "tilt-trend",
        standard: str = "GB 50007-2011 limit; trend by Theil-Sen",
    ) -> None:
        self.rule_id, self.channel_id, self.standard = rule_id, channel_id, standard
        self.temperature_channel, self.limit_mrad = temperature_channel, limit_mrad
        self.rate_limit_mrad_per_day = rate_limit_mrad_per_day
        self.alarm_within_days, self.window_s, self.every_s = alarm_within_days, window_s, every_s
        self.learn_s, self.max_points = learn_s, max_points
        self.covariates = (temperature_channel,)
        self._start()

    def reset(self) -> None:
        self._fit = _TemperatureFit()
        self._since: float | None = None
        self._coeff: tuple[float, float] | None = None  # (slope per °C, reference °C)
        self._window: deque[tuple[float, float]] = deque()
        self._next_eval = -np.inf
        self._verdict: tuple[Severity, float, str] | None = None

    def update(self, t: float, x: float) -> Finding | None:
        temperature = self.covariate(self.temperature_channel)
        if temperature is None:
            return None
        if self._coeff is None:
            if self._since is None:
                self._since = t
            self._fit.add(temperature, x)
            if t - self._since < self.learn_s or self._fit.n < 10:
                return None
            _, slope, mean_t = self._fit.solve()
            self._coeff = (slope, mean_t)
        slope_per_c, reference_c = self._coeff
        self._window.append((t, x - slope_per_c * (temperature - reference_c)))
        while self._window[0][0] < t - self.window_s:
            self._window.popleft()
        if t >= self._next_eval:
            self._next_eval = (t // self.every_s + 1) * self.every_s
            self._verdict = self._judge(t)
        if self._verdict is None:
            return None
        severity, rate, message = self._verdict
        return self.finding(t, severity, rate, self.rate_limit_mrad_per_day, message)

    def _judge(self, now: float) -> tuple[Severity, float, str] | None:
        window = self._window
        if len(window) < 12 or now - window[0][0] < self.window_s / 2:
            return None
        if len(window) > self.max_points:  # Theil-Sen is quadratic in the points
            # Pick the points before making an array of them: the window is mostly skipped.
            listed = list(window)
            picked = [listed[k] for k in _spread(len(window), self.max_points)]
        else:
            picked = list(window)
        # fromiter over the flattened pairs: a third of the cost of np.array on tuples.
        flat = np.fromiter(itertools.chain.from_iterable(picked), float, 2 * len(picked))
        points = flat.reshape(len(picked), 2)
        days = (points[:, 0] - now) / DAY_S
        rate, intercept, low, high = theil_sen(days, points[:, 1])
        if abs(rate) < self.rate_limit_mrad_per_day or low <= 0.0 <= high:
            return None
        level = intercept  # the corrected tilt now (days are measured back from now)
        target = self.limit_mrad if rate > 0 else -self.limit_mrad
        days_left = (target - level) / rate
        where = self.channel_id.split("/")[0]
        if days_left <= 0:
            forecast = f"already beyond the {self.limit_mrad:.1f} mrad limit"
        else:
            when = datetime.fromtimestamp(now + days_left * DAY_S, UTC).strftime("%Y-%m-%d")
            forecast = f"reaches the {self.limit_mrad:.1f} mrad limit in {days_left:.0f} days"
            forecast += f" (about {when})"
        severity = Severity.ALARM if days_left <= self.alarm_within_days else Severity.WARNING
        message = (
            f"Tilt at {where} is trending {rate:+.2f} mrad/day with temperature removed "
            f"(limit {self.rate_limit_mrad_per_day:g} mrad/day), now {level:+.2f} mrad; "
            f"{forecast}."
        )
        return severity, float(rate), message
