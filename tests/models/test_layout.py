"""Sensor layouts: the packaged Nanjing layout, validation, snapping onto the mesh."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from models.layout import (
    DEFAULT_CHANNELS,
    ID_PATTERN,
    LayoutError,
    SensorSpec,
    load_layout,
    nanjing_layout_path,
    parse_layout,
    place_sensors,
)
from models.nanjing import STOREYS, build_nanjing_mesh, storey_at
from models.types import Sensor, SensorKind

_OUTWARD = {
    "south-facade": (0.0, -1.0, 0.0),
    "west-facade": (-1.0, 0.0, 0.0),
    "north-facade": (0.0, 1.0, 0.0),
    "east-facade": (1.0, 0.0, 0.0),
    "interior": (0.0, 0.0, 1.0),
    "foundation": (0.0, 0.0, 1.0),
    "roof": (0.0, 0.0, 1.0),
    "tower-top": (0.0, 0.0, 1.0),
}


@pytest.fixture(scope="module")
def mesh() -> trimesh.Trimesh:
    return build_nanjing_mesh()


@pytest.fixture(scope="module")
def placed(mesh: trimesh.Trimesh) -> list[Sensor]:
    return place_sensors(load_layout(nanjing_layout_path()), mesh, storey_at=storey_at)


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "th-3f-in",
        "kind": "climate",
        "device": "climate-3f",
        "floor": 3,
        "zone": "interior",
        "position": [25.5, 18.5, 9.3],
    }
    entry.update(overrides)
    return entry


def test_packaged_layout_covers_every_kind(placed: list[Sensor]) -> None:
    assert len(placed) >= 40
    assert {s.kind for s in placed} == set(SensorKind)
    assert len({s.id for s in placed}) == len(placed)
    assert all(ID_PATTERN.match(s.device_id) for s in placed)
    assert len({ch.id for s in placed for ch in s.channels}) == sum(len(s.channels) for s in placed)


def test_every_sensor_lands_on_the_surface_facing_out(placed: list[Sensor]) -> None:
    specs = {s.id: s for s in load_layout(nanjing_layout_path())}
    for sensor in placed:
        moved = sum(
            (a - b) ** 2 for a, b in zip(sensor.position, specs[sensor.id].position, strict=True)
        )
        assert moved**0.5 < 1.0, sensor.id
        if sensor.zone in _OUTWARD:
            assert sensor.normal == pytest.approx(_OUTWARD[sensor.zone], abs=1e-6), sensor.id


def test_every_storey_has_inside_and_facade_climate(placed: list[Sensor]) -> None:
    climate = [s for s in placed if s.kind is SensorKind.CLIMATE]
    for storey in STOREYS:
        zones = {s.zone for s in climate if s.floor == storey.level}
        assert "interior" in zones, storey
        assert any(z.endswith("-facade") for z in zones), storey
    devices = Counter(s.device_id for s in climate)
    assert all(n >= 2 for n in devices.values())  # one gateway per floor


def test_corner_tilts_and_street_noise(placed: list[Sensor]) -> None:
    tilts = {s.zone: s for s in placed if s.kind is SensorKind.TILT}
    for corner in ("corner-sw", "corner-se", "corner-nw", "corner-ne"):
        assert [m for m, _ in DEFAULT_CHANNELS[SensorKind.TILT]] == [
            ch.metric for ch in tilts[corner].channels
        ]
    noise = [s for s in placed if s.kind is SensorKind.NOISE]
    assert {s.zone for s in noise} == {"south-facade", "west-facade"}
    assert len({s.floor for s in noise}) >= 4
    vibration_zones = {s.zone for s in placed if s.kind is SensorKind.VIBRATION}
    assert {"foundation", "roof"} <= vibration_zones


def test_far_point_is_refused_naming_the_sensor(mesh: trimesh.Trimesh) -> None:
    specs = parse_layout([_entry(id="vib-sky", kind="vibration", position=[40.0, 25.0, 45.0])])
    with pytest.raises(LayoutError, match=r"'vib-sky': position is 12\.90 m from the building"):
        place_sensors(specs, mesh)
    assert place_sensors(specs, mesh, max_distance_m=20.0)[0].position == (40.0, 25.0, 32.1)


def test_floor_mismatch_is_refused(mesh: trimesh.Trimesh) -> None:
    specs = parse_layout([_entry(floor=5)])
    with pytest.raises(LayoutError, match=r"'th-3f-in': floor 5 .* \(storey 2 or 3\)"):
        place_sensors(specs, mesh, storey_at=storey_at)
    assert place_sensors(specs, mesh)[0].floor == 5  # no storey check without storey_at


def test_defaults_and_overrides() -> None:
    default, custom = parse_layout(
        [
            _entry(),
            _entry(
                id="th-x",
                channels=[{"metric": "t", "unit": "Cel"}],
                expected_interval_s=30,
            ),
        ]
    )
    assert default.channels == (("t", "Cel"), ("rh", "%RH"))
    assert default.expected_interval_s == 300.0
    assert custom == SensorSpec(
        "th-x", SensorKind.CLIMATE, "climate-3f", 3, "interior", (25.5, 18.5, 9.3),
        (("t", "Cel"),), 30.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([_entry(), _entry()], "'th-3f-in': duplicate id"),
        ([_entry(kind="smoke")], "'th-3f-in': unknown kind 'smoke'"),
        ([_entry(device="climate/3f")], "'th-3f-in': device id"),
        ([_entry(device="")], "'th-3f-in': device id"),
        ([_entry(floor="3")], "'th-3f-in': floor"),
        ([_entry(floor=True)], "'th-3f-in': floor"),
        ([_entry(zone="")], "'th-3f-in': zone"),
        ([_entry(position=[1, 2])], "'th-3f-in': position"),
        ([_entry(position=[1, 2, float("nan")])], "'th-3f-in': position"),
        ([_entry(colour="red")], "'th-3f-in': unknown keys"),
        ([{"id": "th-1"}], "'th-1': missing kind"),
        ([_entry(id="bad/id")], "sensor #0: id"),
        (["th-3f-in"], "sensor #0: entry must be a mapping"),
        ([_entry(channels=[])], "'th-3f-in': channels"),
        ([_entry(channels=[{"metric": "t"}])], "'th-3f-in': channel"),
        ([_entry(channels=[{"metric": "t/x", "unit": "Cel"}])], "'th-3f-in': metric"),
        (
            [_entry(channels=[{"metric": "t", "unit": "Cel"}, {"metric": "t", "unit": "K"}])],
            "'th-3f-in': duplicate metrics",
        ),
        ([_entry(expected_interval_s=0)], "'th-3f-in': expected_interval_s"),
        ([], "no sensors"),
    ],
)
def test_bad_entries_are_refused(entries: list[Any], reason: str) -> None:
    with pytest.raises(LayoutError, match=reason):
        parse_layout(entries)


def test_load_layout_file_shapes(tmp_path: Path) -> None:
    path = tmp_path / "layout.yaml"
    path.write_text("- {id: a, kind: noise, device: d, floor: 1, zone: z, position: [0, 0, 0]}\n")
    assert [s.id for s in load_layout(path)] == ["a"]
    path.write_text("building: x\nrooms: []\nsensors: []\n")
    with pytest.raises(LayoutError, match="unknown keys"):
        load_layout(path)
    path.write_text("sensors: [\n")
    with pytest.raises(LayoutError, match="cannot read layout"):
        load_layout(path)
    with pytest.raises(LayoutError, match="cannot read layout"):
        load_layout(tmp_path / "missing.yaml")


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.floats() | st.integers() | st.text(max_size=3), max_size=4),
)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from([*_entry(), "channels", "expected_interval_s", "x"]),
            _values,
        ).map(lambda d: {**_entry(), **d}),
        max_size=3,
    )
)
def test_random_entries_raise_only_layout_error(entries: list[dict[str, Any]]) -> None:
    try:
        specs = parse_layout(entries)
    except LayoutError:
        return
    assert all(isinstance(s, SensorSpec) for s in specs)
