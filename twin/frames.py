"""Viewer frames and replays from the store: the live state, a past moment, a past period."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from data import Bucket, Store
from models.types import Alert, Building, Reading
from viewer.replay import Replay
from viewer.state import OFFLINE_AFTER_INTERVALS, Frame, build_frame

# Raw readings replay a day (1440 per one-minute channel); longer periods read the store's
# rollups, so a month stays a few thousand points per channel.
RAW_REPLAY_S = 86_400.0
MINUTE_REPLAY_S = 7 * 86_400.0
MAX_POINTS_PER_CHANNEL = 50_000


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


def replay_bucket(start: float, end: float) -> Bucket:
    """Raw readings up to a day, minute rollups up to a week, hourly beyond."""
    span = end - start
    if span <= RAW_REPLAY_S:
        return Bucket.RAW
    return Bucket.MINUTE if span <= MINUTE_REPLAY_S else Bucket.HOUR


async def load_replay(store: Store, building: Building, start: float, end: float) -> Replay:
    """Every channel over ``[start, end]`` (and the lookback before), fetched once: raw
    readings for short periods, bucket means (the store's rollups) for long ones."""
    bucket = replay_bucket(start, end)
    since = start - max(lookback_s(building), 3 * bucket.seconds)

    async def channel(channel_id: str) -> tuple[str, list[Reading]]:
        if bucket is Bucket.RAW:
            readings = await store.readings(
                channel_id, since, end + 1e-6, limit=MAX_POINTS_PER_CHANNEL
            )
            return channel_id, readings
        buckets = await store.series(
            channel_id, since, end + 1e-6, bucket, limit=MAX_POINTS_PER_CHANNEL
        )
        return channel_id, [Reading(channel_id, b.time, b.mean) for b in buckets]

    pairs = await asyncio.gather(*(channel(ch.id) for ch in building.channels()))
    alerts = await store.alerts(building_id=building.id, limit=5000)
    return Replay(building.sensors, start, end, dict(pairs), alerts, resolution_s=bucket.seconds)


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
