"""The procedural Nanjing Building: size, storeys, silhouette and the registry entry."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import trimesh

from models import nanjing
from models.nanjing import (
    NANJING_BUILDING_ID,
    STOREYS,
    build_nanjing_mesh,
    load_nanjing,
    nanjing_building,
    storey_at,
)
from models.types import SensorKind


@pytest.fixture(scope="module")
def mesh() -> trimesh.Trimesh:
    return build_nanjing_mesh()


def test_triangle_budget_and_build_time() -> None:
    started = time.perf_counter()
    fresh = nanjing._cached_mesh.__wrapped__()
    assert time.perf_counter() - started < 2.0
    assert 50_000 <= len(fresh.faces) <= 300_000
    assert fresh.is_winding_consistent


def test_bounds_are_a_corner_block_in_the_quadrant(mesh: trimesh.Trimesh) -> None:
    (x0, y0, z0), (x1, y1, z1) = mesh.bounds
    assert z0 == pytest.approx(0.0)
    assert x0 >= 0.0 and y0 >= 0.0
    assert 55.0 < x1 < 60.0 and 38.0 < y1 < 42.0
    assert 45.0 < z1 < 60.0  # tower crown and flagpole


def test_silhouette_steps_up_to_the_corner_tower(mesh: trimesh.Trimesh) -> None:
    def height_at(x: float, y: float) -> float:
        """The highest vertex within 1.5 m in plan."""
        plan = np.hypot(mesh.vertices[:, 0] - x, mesh.vertices[:, 1] - y)
        return float(mesh.vertices[plan < 1.5, 2].max())

    street = height_at(40.0, 2.0)  # main block at the Nanjing Road front
    setback = height_at(40.0, 9.0)  # behind the two setbacks
    tower = height_at(8.0, 8.0)  # the corner tower with crown
    assert 24.0 < street < 27.0
    assert 31.0 < setback < 34.0
    assert tower > 45.0


def test_copies_are_independent(mesh: trimesh.Trimesh) -> None:
    other = build_nanjing_mesh()
    other.apply_translation([100.0, 0.0, 0.0])
    assert np.allclose(build_nanjing_mesh().bounds, mesh.bounds)


def test_storeys_are_contiguous() -> None:
    assert [s.level for s in STOREYS] == list(range(1, len(STOREYS) + 1))
    assert STOREYS[0].z_min == 0.0
    for below, above in itertools.pairwise(STOREYS):
        assert below.z_max == above.z_min
        assert 3.0 <= below.z_max - below.z_min <= 6.0


@pytest.mark.parametrize(
    ("z", "level"), [(0.0, 1), (-0.2, 1), (5.39, 1), (5.4, 2), (24.9, 7), (39.0, 10), (50.0, 10)]
)
def test_storey_at(z: float, level: int) -> None:
    assert storey_at(z) == level


def test_storey_at_refuses_below_ground() -> None:
    with pytest.raises(ValueError, match="below the ground floor"):
        storey_at(-3.0)


def test_every_storey_has_a_floor_slab(mesh: trimesh.Trimesh) -> None:
    up = mesh.face_normals[:, 2] > 0.99
    slab_tops = set(np.round(mesh.triangles_center[up, 2], 3))
    for storey in STOREYS[1:]:
        assert storey.z_min in slab_tops, storey
    assert nanjing.GROUND_SLAB_TOP_M in slab_tops


def test_building_entry() -> None:
    building = nanjing_building([])
    assert building.id == NANJING_BUILDING_ID
    assert building.model == "procedural:nanjing"
    assert building.noise_zone in (2, 4)
    assert building.bounds[0][2] == pytest.approx(0.0)
    assert building.sensors == ()


def test_load_nanjing() -> None:
    mesh, building = load_nanjing()
    assert len(building.sensors) >= 40
    assert {s.kind for s in building.sensors} == set(SensorKind)
    lo, hi = np.array(building.bounds)
    positions = np.array([s.position for s in building.sensors])
    assert (positions >= lo - 1e-9).all() and (positions <= hi + 1e-9).all()
    assert len(mesh.faces) == len(build_nanjing_mesh().faces)
