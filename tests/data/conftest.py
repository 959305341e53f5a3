"""Fixtures of the store tests: every contract test runs against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from data import Store, open_store
from models.types import Building, Channel, Sensor, SensorKind


@pytest.fixture
def hall() -> Building:
    """A small building: a two-channel tilt sensor and a climate sensor."""
    tilt = Sensor(
        id="tilt-a",
        kind=SensorKind.TILT,
        device_id="dev-1",
        floor=1,
        zone="corner-ne",
        position=(1.0, 2.0, 3.0),
        normal=(0.0, -1.0, 0.0),
        channels=(Channel("tilt-a", "x", "mrad"), Channel("tilt-a", "y", "mrad")),
    )
    th = Sensor(
        id="th-a",
        kind=SensorKind.CLIMATE,
        device_id="dev-2",
        floor=2,
        zone="interior",
        position=(4.0, 5.0, 6.0),
        normal=(0.0, 0.0, 1.0),
        channels=(Channel("th-a", "t", "Cel"),),
        expected_interval_s=300.0,
    )
    return Building(
        id="hall",
        name="Test Hall",
        address="1 Test Road",
        structure_type="brick",
        noise_zone=2,
        bounds=((0.0, 0.0, 0.0), (10.0, 20.0, 30.0)),
        model="procedural:test",
        sensors=(tilt, th),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty database: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'twin.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str, hall: Building) -> AsyncIterator[Store]:
    """An open store of each backend with ``hall`` registered."""
    async with open_store(store_url) as s:
        await s.put_building(hall)
        yield s
