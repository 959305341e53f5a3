"""Viewer frames and replays read from a real SQLite store: raw for a day, rollups beyond."""

from __future__ import annotations

from pathlib import Path

import pytest

from data import Bucket, open_store
from models.nanjing import load_nanjing
from models.types import Building, Reading
from twin.frames import frame_at, load_replay, replay_bucket

HOUR = 3600.0


def test_replay_bucket_by_period_length() -> None:
    assert replay_bucket(0.0, 24 * HOUR) is Bucket.RAW
    assert replay_bucket(0.0, 3 * 24 * HOUR) is Bucket.MINUTE
    assert replay_bucket(0.0, 30 * 24 * HOUR) is Bucket.HOUR


@pytest.fixture(scope="module")
def building() -> Building:
    return load_nanjing()[1]


async def test_long_replay_uses_rollups_and_short_one_raw(
    tmp_path: Path, building: Building
) -> None:
    sensor = next(s for s in building.sensors if s.id == "noise-1f-south")
    end = 10 * 24 * HOUR
    # One reading a minute for the last 3 days: 50 dB(A) in even hours, 70 in odd ones.
    readings = [
        Reading("noise-1f-south/laeq", t, 50.0 if int(t // HOUR) % 2 == 0 else 70.0)
        for t in range(int(end - 3 * 24 * HOUR), int(end), 60)
    ]
    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        await store.put_building(building)
        await store.write_readings(readings)
        month = await load_replay(store, building, end - 30 * 24 * HOUR, end)
        assert month.resolution_s == HOUR
        # Hourly means of a signal that flips each hour: the bucket at 20:00 holds only 50s.
        moment = end - 4 * HOUR + 10 * 60  # ten minutes into an even hour
        assert month.frame(moment, "laeq").values[sensor.id] == pytest.approx(50.0)
        day = await load_replay(store, building, end - 24 * HOUR, end)
        assert day.resolution_s == 0.0
        assert day.frame(end - HOUR + 30, "laeq").values[sensor.id] == 70.0
        # A single moment reads raw readings, however long ago.
        past = await frame_at(store, building, "laeq", end - 5 * HOUR + 120)
        assert past.values[sensor.id] == 70.0
