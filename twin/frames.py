"""Viewer frames and replays from the store: the live state, a past moment, a past period."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from data import Store
from models.types import Alert, Building, Reading
from viewer.replay import Replay
from viewer.state import OFFLINE_AFTER_INTERVALS, Frame, build_frame

# Replays read raw readings; a channel reporting every minute gives 1440 a day. The store has
# no rollup query yet, so a longer period is cut at this many readings per channel.
MAX_READINGS_PER_CHANNEL = 50_000


def lookback_s(building: Building) -> float:
    """How far before a moment readings still decide a sensor's state (its offline window)."""
    intervals = [s.expected_interval_s for s in building.sensors] or [60.0]
    return OFFLINE_AFTER_INTERVALS * max(intervals)


async def live_frame(store: Store, building: Building, metric: str, now: float) -> Frame:
    """The building now: every channel's latest reading and the alerts open now."""
    latest = await store.latest(building.id)
    alerts = await store.alerts(building_id=building.id, limit=5000)
    return _frame(building, metric, now, latest, alerts)


async def frame_at(store: Store, building: Building, metric: str, at: float) -> Frame:
    """The building as it was at ``at``, from each channel's last reading before then."""
    start = at - lookback_s(building)

    async def last(channel_id: str) -> tuple[str, Reading | None]:
        readings = await store.readings(channel_id, start, at + 1e-6, limit=1_000_000)
        return channel_id, readings[-1] if readings else None

    pairs = await asyncio.gather(*(last(ch.id) for ch in building.channels()))
    latest = {channel: reading for channel, reading in pairs if reading is not None}
    alerts = await store.alerts(building_id=building.id, limit=5000)
    return _frame(building, metric, at, latest, alerts)


async def load_replay(store: Store, building: Building, start: float, end: float) -> Replay:
    """Every channel's readings over ``[start, end]`` (and the lookback before), fetched once."""
    since = start - lookback_s(building)

    async def channel(channel_id: str) -> tuple[str, list[Reading]]:
        readings = await store.readings(
            channel_id, since, end + 1e-6, limit=MAX_READINGS_PER_CHANNEL
        )
        return channel_id, readings

    pairs = await asyncio.gather(*(channel(ch.id) for ch in building.channels()))
    alerts = await store.alerts(building_id=building.id, limit=5000)
    return Replay(building.sensors, start, end, dict(pairs), alerts)


def _frame(
    building: Building,
    metric: str,
    time: float,
    latest: dict[str, Reading],
    alerts: Sequence[Alert],
) -> Frame:
    metric_readings: dict[str, tuple[float, float]] = {}
    last_seen: dict[str, float] = {}
    for sensor in building.sensors:
        for ch in sensor.channels:
            reading = latest.get(ch.id)
            if reading is None:
                continue
            last_seen[sensor.id] = max(last_seen.get(sensor.id, reading.time), reading.time)
            if ch.metric == metric:
                metric_readings[sensor.id] = (reading.time, reading.value)
    return build_frame(
        building.sensors,
        metric,
        time,
        metric_readings=metric_readings,
        last_seen=last_seen,
        alerts=alerts,
    )
