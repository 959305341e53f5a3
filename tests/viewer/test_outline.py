"""Outline edges keep the building's lines and drop specks; back faces are skipped only on
surfaces that close up with outward winding."""

from __future__ import annotations

import numpy as np
import pyvista as pv
import trimesh

from viewer.bench import facade_grid
from viewer.outline import is_closed_outward, outline_edges


def surface(mesh: trimesh.Trimesh) -> pv.PolyData:
    return pv.PolyData.from_regular_faces(np.asarray(mesh.vertices), np.asarray(mesh.faces))


def lengths(edges: pv.PolyData) -> np.ndarray:
    segments = np.asarray(edges.lines).reshape(-1, 3)[:, 1:]
    points = np.asarray(edges.points)
    return np.linalg.norm(points[segments[:, 0]] - points[segments[:, 1]], axis=1)


def test_a_block_keeps_its_corners_and_a_small_ornament_is_dropped() -> None:
    block = trimesh.creation.box(extents=(30.0, 20.0, 15.0))
    ornament = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    ornament.apply_translation((0.0, -10.05, 0.0))  # a 10 cm stud on the front facade
    mesh = trimesh.util.concatenate([block, ornament])
    everything = outline_edges(surface(mesh), min_run_m=0.0)
    outline = outline_edges(surface(mesh))
    assert np.isclose(lengths(everything).sum(), 4 * (30 + 20 + 15) + 12 * 0.1)
    assert np.isclose(lengths(outline).sum(), 4 * (30 + 20 + 15))


def test_a_curved_outline_of_short_segments_counts_at_its_whole_length() -> None:
    # A 4 m column of 64 sides: its rims are 64 segments of 0.2 m each, under the limit.
    column = trimesh.creation.cylinder(radius=2.0, height=10.0, sections=64)
    rims = outline_edges(surface(column))
    assert lengths(rims).max() < 0.25
    assert np.isclose(lengths(rims).sum(), 2 * 64 * 2 * 2.0 * np.sin(np.pi / 64))


def test_back_faces_are_skipped_only_on_closed_outward_surfaces() -> None:
    block = trimesh.creation.box(extents=(30.0, 20.0, 15.0))
    assert is_closed_outward(block.vertices, block.faces)
    assert not is_closed_outward(block.vertices, block.faces[:, ::-1])  # wound inward
    assert not is_closed_outward(block.vertices, block.faces[1:])  # a hole in the roof
    grid, _ = facade_grid(2_000)
    assert not is_closed_outward(grid.vertices, grid.faces)  # a single facade, seen from both
    assert not is_closed_outward(np.zeros((0, 3)), np.zeros((0, 3), dtype=int))
