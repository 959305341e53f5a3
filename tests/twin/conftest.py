"""Fixtures for the twin's end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from models.types import Building, Channel, Sensor, SensorKind


@pytest.fixture
def make_hall() -> Callable[[str], Building]:
    """A small hall whose three sensors hang off one device: tilt, climate, vibration."""
    return make_building


def make_building(device: str) -> Building:
    def sensor(
        sid: str,
        kind: SensorKind,
        zone: str,
        pos: tuple[float, float, float],
        metrics: list[tuple[str, str]],
    ) -> Sensor:
        return Sensor(
            id=sid,
            kind=kind,
            device_id=device,
            floor=1,
            zone=zone,
            position=pos,
            normal=(0.0, -1.0, 0.0),
            channels=tuple(Channel(sid, m, u) for m, u in metrics),
        )

    return Building(
        id=f"hall-{device}",
        name="Test Hall",
        address="1 Test Road",
        structure_type="brick",
        noise_zone=4,
        bounds=((0.0, 0.0, 0.0), (20.0, 10.0, 30.0)),
        model="test:box",
        sensors=(
            sensor(
                f"{device}-tilt",
                SensorKind.TILT,
                "corner-ne",
                (20.0, 0.0, 2.0),
                [("x", "mrad"), ("y", "mrad")],
            ),
            sensor(
                f"{device}-th",
                SensorKind.CLIMATE,
                "north-facade",
                (10.0, 0.0, 15.0),
                [("t", "Cel"), ("rh", "%RH")],
            ),
            sensor(
                f"{device}-vib", SensorKind.VIBRATION, "roof", (10.0, 5.0, 30.0), [("ppv", "mm/s")]
            ),
        ),
    )
