"""Detectors for every channel: spikes, stuck sensors, silent devices, time-of-day anomalies and
change points. None of them knows what the channel measures; the rules file sets their scales.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.detectors import BaseDetector
from alerts.robust import median_mad
from models.types import Finding, Severity

MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution times this is its standard deviation


class HampelDetector(BaseDetector):
    """An isolated spike: one reading far from the median of the readings before it, with the
    next reading back near that median. A step (day to night noise) is not a spike, so a
    reading is judged one reading late."""

    learned = ("_window", "_sorted", "_pending")

    def __init__(
        self,
        *,
        channel_id: str,
        window: int = 10,
        n_sigmas: float = 5.0,
        min_scale: float = 0.0,
        rule_id: str = "spike",
        standard: str = "Hampel identifier (data quality)",
    ) -> None:
        self.rule_id, self.channel_id, self.standard = rule_id, channel_id, standard
        self.window, self.n_sigmas, self.min_scale = window, n_sigmas, min_scale
        # Indices into the sorted full window, once: the median's two (for odd n both are the
        # middle, and halving a doubled float is exact; an overflow to inf only sends the
        # reading to ``update``), and ``_within_bound``'s ``half - 1 - i`` and ``half + k - i``
        # with ``i = k // 2``.
        half, k = window // 2, (window - 1) // 2
        self._picks = (half - 1 + window % 2, half, half - 1 - k // 2, half + k - k // 2)
        self._floor = n_sigmas * min_scale
        self._start()

    def reset(self) -> None:
        self._window: deque[float] = deque()
        self._sorted: list[float] = []  # the window, sorted: the median is one index away
        self._pending: tuple[float, float, float, float] | None = None  # t, x, median, limit

    def _push(self, x: float) -> None:
        self._window.append(x)
        insort(self._sorted, x)
        if len(self._window) > self.window:
            old = self._window.popleft()
            del self._sorted[bisect_left(self._sorted, old)]

    def _limit(self, med: float) -> float:
        ordered = sorted([abs(v - med) for v in self._sorted])  # two runs: a linear merge
        n = len(ordered)
        mad = ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])
        return self.n_sigmas * max(MAD_TO_SIGMA * mad, self.min_scale)

    def _within_bound(self, deviation: float, med: float) -> bool:
        """Whether ``deviation`` is surely within the limit, judged from a lower bound on the
        MAD that costs two deviations instead of sorting all of them (the exact MAD is then
        needed only near or beyond the limit, so findings are unchanged).

        From index ``half`` on, the sorted window's deviations from the median rise; before
        it they rise going left: two sorted runs. At most ``k`` deviations lie below the
        smaller of the ``i``-th of the left run and the ``(k - i)``-th of the right (0-based),
        so the ``k``-th smallest deviation, which the MAD is at least, is at least that.
        Float products and ``max`` are monotone, so the limit from the bound is at most the
        limit from the MAD.
        """
        ordered = self._sorted  # the full window: ``_picks`` were computed for its size
        if len(ordered) < 2:
            return False
        _, _, left, right = self._picks
        bound = min(abs(ordered[left] - med), abs(ordered[right] - med))
        return deviation <= self.n_sigmas * max(MAD_TO_SIGMA * bound, self.min_scale)

    def update(self, t: float, x: float) -> Finding | None:
        found = None
        pending = self._pending
        if pending is not None:
            self._pending = None
            pt, px, med, limit = pending
            if abs(x - med) <= limit and abs(x - px) > limit:
                found = self.finding(
                    pt,
                    Severity.WARNING,
                    px,
                    limit,
                    f"Spike at {self.channel_id}: {px:.3g} against a recent median of "
                    f"{med:.3g} (more than {self.n_sigmas:g} robust sigmas), back to normal "
                    "at the next reading; a sensor glitch or a brief real event.",
                )
            else:
                # Two deviating readings in a row are a new level, not a spike: follow it.
                self._push(px)
        window, ordered, n = self._window, self._sorted, self.window
        if len(window) == n:
            half = n // 2
            med = ordered[half] if n % 2 else 0.5 * (ordered[half - 1] + ordered[half])
            deviation = abs(x - med)
            # The MAD only matters beyond the floor; most readings never need it. Nor do they
            # need it exactly: see ``_within_bound``.
            if deviation > self.n_sigmas * self.min_scale and not self._within_bound(
                deviation, med
            ):
                limit = self._limit(med)
                if deviation > limit:
                    # Keep the outlier out of the window so it cannot mask the next one.
                    self._pending = (t, x, med, limit)
                    return found
        # ``_push``, inlined: this runs for every reading of nearly every channel.
        window.append(x)
        insort(ordered, x)
        if len(window) > n:
            del ordered[bisect_left(ordered, window.popleft())]
        return found

    def run_until_finding(
        self, ts: list[float], xs: list[float], start: int = 0, stop: int | None = None
    ) -> tuple[int, Finding | None]:
        stop = len(ts) if stop is None else stop
        # The common case inlined: a full window, nothing pending, a reading surely within
        # the limit. Anything else is left to ``update``, which then decides identically.
        # ``_within_bound`` is spelled out too, with the same arithmetic: in the sorted window
        # ``ordered[left] <= med <= ordered[right]``, so the two ``abs`` are plain differences.
        window, ordered, n = self._window, self._sorted, self.window
        n_sigmas, min_scale, floor = self.n_sigmas, self.min_scale, self._floor
        below, half, left, right = self._picks
        update, append, popleft = self.update, window.append, window.popleft
        fast = self._pending is None and len(window) == n and n >= 2
        for i in range(start, stop):
            x = xs[i]
            if fast:
                med = 0.5 * (ordered[below] + ordered[half])
                deviation = abs(x - med)
                if deviation <= floor:
                    within = True
                else:
                    low, high = med - ordered[left], ordered[right] - med
                    scale = MAD_TO_SIGMA * (low if low < high else high)
                    within = deviation <= n_sigmas * (scale if scale > min_scale else min_scale)
                if within:
                    append(x)
                    insort(ordered, x)
                    del ordered[bisect_left(ordered, popleft())]
                    continue
            finding = update(ts[i], x)
            if finding is not None:
                return i, finding
            fast = self._pending is None and len(window) == n and n >= 2
        return stop, None


class FlatlineDetector(BaseDetector):
    """A stuck sensor: ``count`` readings in a row within ``tolerance`` of the first of them."""

    learned = ("_anchor", "_run")

    def __init__(
        self,
        *,
        channel_id: str,
        count: int = 12,
        tolerance: float = 0.0,
        rule_id: str = "stuck",
        standard: str = "data quality",
    ) -> None:
        self.rule_id, self.channel_id, self.standard = rule_id, channel_id, standard
        self.count, self.tolerance = count, tolerance
        self._start()

    def reset(self) -> None:
        self._anchor = math.nan
        self._run = 0

    def update(self, t: float, x: float) -> Finding | None:
        if abs(x - self._anchor) <= self.tolerance:
            self._run += 1
        else:
            self._anchor, self._run = x, 1
        if self._run < self.count:
            return None
        return self._stuck(t, x)

    def run_until_finding(
        self, ts: list[float], xs: list[float], start: int = 0, stop: int | None = None
    ) -> tuple[int, Finding | None]:
        stop = len(ts) if stop is None else stop
        anchor, run, tolerance, count = self._anchor, self._run, self.tolerance, self.count
        for i in range(start, stop):
            x = xs[i]
            if abs(x - anchor) <= tolerance:
                run += 1
            else:
                anchor, run = x, 1
            if run >= count:
                self._anchor, self._run = anchor, run
                return i, self._stuck(ts[i], x)
        self._anchor, self._run = anchor, run
        return stop, None

    def _stuck(self, t: float, x: float) -> Finding:
        return self.finding(
            t,
            Severity.WARNING,
            x,
            self.tolerance,
            f"{self.channel_id} has reported {x:.4g} {self._run} times in a row: the sensor "
            "looks stuck; check it before trusting its readings.",
        )


class SilenceDetector(BaseDetector):
    """A device gone silent: no reading for ``factor`` times its expected interval.

    ``tick(now)`` raises it live; a reading after a long gap also reports the gap, so ``scan``
    finds gaps in history. A channel never heard from is "no data", not silent.
    """

    learned = ("_last",)

    def __init__(
        self,
        *,
        channel_id: str,
        expected_interval_s: float,
        factor: float = 3.0,
        rule_id: str = "silent",
        standard: str = "expected reporting interval",
    ) -> None:
        self.rule_id, self.channel_id, self.standard = rule_id, channel_id, standard
        self.expected_interval_s, self.factor = expected_interval_s, factor
        self._start()

    @property
    def limit_s(self) -> float:
        return self.factor * self.expected_interval_s

    def reset(self) -> None:
        self._last: float | None = None

    def _silent(self, now: float, last: float) -> Finding:
        gap = now - last
        return self.finding(
            now,
            Severity.WARNING,
            gap,
            self.limit_s,
            f"No reading from {self.channel_id.split('/')[0]} for {gap / 60:.0f} min "
            f"(expected every {self.expected_interval_s / 60:.0f} min): device silent.",
        )

    def update(self, t: float, x: float) -> Finding | None:
        last, self._last = self._last, t
        # ``limit_s`` spelled out: a property call per reading costs more than the product.
        if last is not None and t - last > self.factor * self.expected_interval_s:
            return self._silent(t, last)
        return None

    def run_until_finding(
        self, ts: list[float], xs: list[float], start: int = 0, stop: int | None = None
    ) -> tuple[int, Finding | None]:
        stop = len(ts) if stop is None else stop
        limit_s, last = self.factor * self.expected_interval_s, self._last
        for i in range(start, stop):
            t = ts[i]
            if last is not None and t - last > limit_s:
                self._last = t
                return i, self._silent(t, last)
            last = t
        self._last = last
        return stop, None

    def tick(self, now: float) -> Finding | None:
        if self._last is not None and now - self._last > self.limit_s:
            return self._silent(now, self._last)
        return None


class LocalHour:
    """The local hour of day of a time, cached per hour: ``fromtimestamp`` is the dearest call
    on the streaming path and readings arrive in time order. ``hour`` holds from ``begins``
    (inclusive) to ``ends``; callers on a hot path test that span inline and skip the call."""

    def __init__(self, timezone: ZoneInfo) -> None:
        self.timezone = timezone
        self.hour = -1
        self.begins = math.inf
        self.ends = -math.inf

    def __call__(self, t: float) -> int:
        if not (self.begins <= t < self.ends):
            local = datetime.fromtimestamp(t, self.timezone)
            self.hour = local.hour
            self.begins = t - local.minute * 60 - local.second - local.microsecond / 1e6
            self.ends = self.begins + 3600.0
        return self.hour


class TimeOfDayBaseline:
    """Median and robust scale (1.4826 MAD, at least ``min_scale``) of a channel per local
    hour of day, from its recent normal readings."""

    def __init__(
        self, *, timezone: ZoneInfo, history: int = 400, min_count: int = 20, min_scale: float = 0.0
    ) -> None:
        self.history, self.min_count, self.min_scale = history, min_count, min_scale
        self.bins: list[deque[float]] = [deque(maxlen=history) for _ in range(24)]
        self.stats: list[tuple[float, float] | None] = [None] * 24
        self.clock = LocalHour(timezone)

    def hour(self, t: float) -> int:
        clock = self.clock
        if clock.begins <= t < clock.ends:
            return clock.hour
        before = clock.hour
        hour = clock(t)
        if hour != before:
            # Entering an hour: refresh its statistics from what it learned since yesterday.
            values = self.bins[hour]
            if len(values) >= self.min_count:
                med, mad = median_mad(values)
                self.stats[hour] = (med, max(MAD_TO_SIGMA * mad, self.min_scale, 1e-12))
            else:
                self.stats[hour] = None
        return hour

    def learn(self, hour: int, x: float) -> None:
        """Take a normal reading into its hour's history (detectors inline this)."""
        self.bins[hour].append(x)


class RobustZScoreDetector(BaseDetector):
    """A reading far from what this hour of day usually brings, ``min_run`` readings in a row.

    z = (x - hourly median) / max(1.4826 MAD, ``min_scale``); readings judged normal feed the
    baseline, so an ongoing anomaly does not become the new normal.
    """

    learned = ("_baseline", "_run")

    def __init__(
        self,
        *,
        channel_id: str,
        timezone: ZoneInfo,
        threshold: float = 6.0,
        min_run: int = 3,
        min_scale: float = 0.0,
        history: int = 400,
        min_count: int = 20,
        rule_id: str = "anomaly",
        standard: str = "robust z-score against the time-of-day baseline",
    ) -> None:
        self.rule_id, self.channel_id, self.standard = rule_id, channel_id, standard
        self.timezone, self.threshold, self.min_run = timezone, threshold, min_run
        self.min_scale, self.history, self.min_count = min_scale, history, min_count
        self._start()

    def reset(self) -> None:
        self._baseline = TimeOfDayBaseline(
            timezone=self.timezone,
            history=self.history,
            min_count=self.min_count,
            min_scale=self.min_scale,
        )
        self._run = 0

    def update(self, t: float, x: float) -> Finding | None:
        baseline = self._baseline
        clock = baseline.clock
        # Within the current hour the hour is known: skip the call (this is the hot path).
        hour = clock.hour if clock.begins <= t < clock.ends else baseline.hour(t)
        stats = baseline.stats[hour]
        if stats is None:
            baseline.bins[hour].append(x)  # learning (inlined: this is the hot path)
            return None
        med, scale = stats
        z = (x - med) / scale
        if -self.threshold < z < self.threshold:  # abs(z) < threshold, without the call
            self._run = 0
            baseline.bins[hour].append(x)
            return None
        self._run += 1
        if self._run < self.min_run:
            return None
        edge = med + math.copysign(self.threshold * scale, z)  # the edge of the normal band
        return self.finding(
            t,
            Severity.INFO,
            x,
            edge,
            f"{self.channel_id} reads {x:.3g}, {z:+.1f} robust sigmas from its usual "
            f"{med:.3g} at {hour:02d}:00 (normal up to {edge:.3g}) for {self._run} readings "
            "in a row.",
        )


class CusumDetector(BaseDetector):
    """A sustained shift of level (two-sided CUSUM on robust z-scores against the time-of-day
    baseline); ``drift`` sigmas of shift are tolerated, ``threshold`` is the decision level."""

    learned = ("_baseline", "_high", "_low")

    def __init__(
        self,
        *,
        channel_id: str,
        timezone: ZoneInfo,
        drift: float = 2.0,
        threshold: float = 15.0,
        min_scale: float = 0.0,
        history: int = 400,
        min_count: int = 20,
        rule_id: str = "change-point",
        standard: str = "CUSUM change-point test",
    ) -> None:
        self.rule_id, self.channel_id, self.standard = rule_id, channel_id, standard
        self.timezone, self.drift, self.threshold = timezone, drift, threshold
        self.min_scale, self.history, self.min_count = min_scale, history, min_count
        self._start()

    def reset(self) -> None:
        self._baseline = TimeOfDayBaseline(
            timezone=self.timezone,
            history=self.history,
            min_count=self.min_count,
            min_scale=self.min_scale,
        )
        self._high = 0.0
        self._low = 0.0

    def update(self, t: float, x: float) -> Finding | None:
        baseline = self._baseline
        clock = baseline.clock
        # Within the current hour the hour is known: skip the call (this is the hot path).
        hour = clock.hour if clock.begins <= t < clock.ends else baseline.hour(t)
        stats = baseline.stats[hour]
        if stats is None:
            baseline.bins[hour].append(x)  # learning (inlined: this is the hot path)
            return None
        med, scale = stats
        z = (x - med) / scale
        # Capped so the statistic falls back below the threshold soon after the shift ends.
        # (Plain comparisons: this runs for every reading, and min/max calls cost more.)
        threshold, drift = self.threshold, self.drift
        cap = 2.0 * threshold
        high, low = self._high + z - drift, self._low - z - drift
        high = 0.0 if high < 0.0 else cap if high > cap else high
        low = 0.0 if low < 0.0 else cap if low > cap else low
        self._high, self._low = high, low
        if high < threshold and low < threshold:
            if -drift < z < drift:
                baseline.bins[hour].append(x)
            return None
        direction = "up" if self._high >= self.threshold else "down"
        return self.finding(
            t,
            Severity.INFO,
            x,
            med,
            f"{self.channel_id} has shifted {direction} from its usual {med:.3g} at "
            f"{hour:02d}:00 (now {x:.3g}); CUSUM {max(self._high, self._low):.0f} "
            f"over the decision level {self.threshold:g}.",
        )
