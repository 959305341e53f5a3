"""The time machine: a past period's readings and alerts, held in memory, replayed as frames.

A replay loads each channel's readings once (the caller fetches them) and then answers
any moment with binary searches, so scrubbing the slider never touches the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.types import Alert, Reading, Sensor
from viewer.state import Frame, build_frame


@dataclass(frozen=True, slots=True)
class ChannelSeries:
    """One channel's readings, oldest first, as arrays."""

    times: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]

    @classmethod
    def of(cls, readings: Iterable[Reading]) -> ChannelSeries:
        pairs = sorted((r.time, r.value) for r in readings)
        arr = np.array(pairs, dtype=np.float64).reshape(-1, 2)
        return cls(arr[:, 0].copy(), arr[:, 1].copy())

    def at(self, time: float) -> tuple[float, float] | None:
        """The newest ``(time, value)`` at or before ``time``."""
        i = int(np.searchsorted(self.times, time, side="right")) - 1
        return None if i < 0 else (float(self.times[i]), float(self.values[i]))


class Replay:
    """Readings of a building's channels and its alerts over ``[start, end]``.

    ``readings`` should reach back before ``start`` by the longest offline window, so the
    first frames already know which sensors were reporting. For a long period they may be
    rollups, one per ``resolution_s`` bucket (stamped at the bucket's start): freshness is
    then judged against the bucket width, not the sensor's reporting interval.
    """

    def __init__(
        self,
        sensors: Sequence[Sensor],
        start: float,
        end: float,
        readings: Mapping[str, Iterable[Reading]],
        alerts: Sequence[Alert],
        *,
        resolution_s: float = 0.0,
    ) -> None:
        if end < start:
            raise ValueError("a replay must not end before it starts")
        self.sensors = tuple(sensors)
        self.start, self.end = start, end
        self.series = {channel: ChannelSeries.of(rs) for channel, rs in readings.items()}
        self.alerts = tuple(alerts)
        self.resolution_s = resolution_s

    def frame(self, time: float, metric: str) -> Frame:
        """The building as it was at ``time`` (clamped into the replayed period)."""
        t = min(max(time, self.start), self.end)
        metric_readings: dict[str, tuple[float, float]] = {}
        last_seen: dict[str, float] = {}
        for sensor in self.sensors:
            for ch in sensor.channels:
                series = self.series.get(ch.id)
                latest = series.at(t) if series is not None else None
                if latest is None:
                    continue
                last_seen[sensor.id] = max(last_seen.get(sensor.id, latest[0]), latest[0])
                if ch.metric == metric:
                    metric_readings[sensor.id] = latest
        return build_frame(
            self.sensors,
            metric,
            t,
            metric_readings=metric_readings,
            last_seen=last_seen,
            alerts=self.alerts,
            resolution_s=self.resolution_s,
        )

    def alert_starts(self) -> list[tuple[float, Alert]]:
        """Every alert that opened inside the period, with its start time, oldest first."""
        return sorted(
            ((a.opened_at, a) for a in self.alerts if self.start <= a.opened_at <= self.end),
            key=lambda pair: pair[0],
        )
