"""Faces buried in or lying against other parts are hidden; nothing that shows from outside is,
and nothing at all on a surface that does not close up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import trimesh

from viewer.bench import facade_grid
from viewer.hidden import hidden_faces, winding_numbers


def block(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> trimesh.Trimesh:
    """A closed box cut in 8 x 8 along each face, so on the blocks below each triangle is wholly
    inside another block or wholly out of it."""
    return trimesh.creation.box(bounds=[lo, hi]).subdivide().subdivide().subdivide()


def union(*parts: trimesh.Trimesh) -> trimesh.Trimesh:
    return trimesh.util.concatenate(list(parts))


def inside_any(points: np.ndarray, boxes: list[tuple[tuple, tuple]]) -> np.ndarray:
    lo, hi = (np.array([b[i] for b in boxes], dtype=float) for i in (0, 1))
    return np.any(np.all((points[:, None] > lo) & (points[:, None] < hi), axis=2), axis=1)


def just_outside(mesh: trimesh.Trimesh) -> np.ndarray:
    return mesh.triangles_center + 1e-3 * mesh.face_normals


def test_faces_buried_in_an_overlapping_block_are_hidden_the_outer_ones_kept() -> None:
    boxes = [((0, 0, 0), (8, 8, 8)), ((4, 2, 2), (12, 6, 6))]  # a wing through a wall
    mesh = union(*(block(*b) for b in boxes))
    hidden = hidden_faces(mesh.vertices, mesh.faces)
    expected = inside_any(just_outside(mesh), boxes)
    np.testing.assert_array_equal(hidden, expected)
    # The wing's end inside the block, its sides up to the wall, the wall behind the wing.
    assert expected.sum() == 8 * 8 * 2 + 4 * (4 * 8 * 2) + 4 * 4 * 2


def test_faces_lying_against_each_other_are_hidden() -> None:
    left = trimesh.creation.box(bounds=[(0, 0, 0), (4, 4, 4)])
    right = trimesh.creation.box(bounds=[(4, 0, 0), (8, 4, 4)])
    hidden = hidden_faces(*_arrays(union(left, right)))
    centres = union(left, right).triangles_center
    np.testing.assert_array_equal(hidden, np.isclose(centres[:, 0], 4.0))
    assert hidden.sum() == 4
    # A smaller block against the face: its own face is hidden, the big face only partly.
    small = trimesh.creation.box(bounds=[(4, 1, 1), (8, 3, 3)])
    hidden = hidden_faces(*_arrays(union(left, small)))
    centres = union(left, small).triangles_center
    assert hidden.sum() == 2
    assert np.all(centres[hidden][:, 0] == 4.0) and np.all(np.arange(len(hidden))[hidden] >= 12)


def studded_wall() -> tuple[trimesh.Trimesh, trimesh.Trimesh]:
    """A wall with studs over the points a sampling method would look at on its front (the
    centroid, and the corners and edge midpoints moved up to a fifth of the way in): most of
    the front still shows between them."""
    wall = trimesh.creation.box(bounds=[(0, 0, 0), (10, 1, 10)])
    front = np.isclose(wall.triangles_center[:, 1], 0.0)
    pad = np.array([0.15, 0.5, 0.15])  # half in the wall, half standing proud of it
    bottom, top = np.array([0.0, -1.0, 0.0]), np.array([10.0, 1.0, 10.0])
    studs = []
    for corners in wall.triangles[front]:
        centre = corners.mean(axis=0)
        midpoints = [(corners[i] + corners[(i + 1) % 3]) / 2 for i in range(3)]
        for p in [centre, *corners, *midpoints]:
            inset = p + 0.2 * (centre - p)
            lo, hi = np.minimum(p, inset) - pad, np.maximum(p, inset) + pad
            studs.append(
                trimesh.creation.box(bounds=[np.clip(lo, bottom, top), np.clip(hi, bottom, top)])
            )
    return wall, union(wall, *studs)


def test_a_face_stays_when_only_its_sample_points_are_covered() -> None:
    wall, mesh = studded_wall()
    hidden = hidden_faces(*_arrays(mesh))
    assert not hidden[: len(wall.faces)].any()
    n_studs = len(mesh.faces) // 12 - 1
    assert hidden.sum() >= 2 * n_studs  # each stud's back is buried in the wall


def test_nothing_is_hidden_on_an_open_or_inward_surface() -> None:
    grid, _ = facade_grid(2_000)
    assert not hidden_faces(grid.vertices, grid.faces).any()
    mesh = union(block((0, 0, 0), (8, 8, 8)), block((4, 2, 2), (12, 6, 6)))
    assert not hidden_faces(mesh.vertices, mesh.faces[:, ::-1]).any()  # wound inward
    assert not hidden_faces(mesh.vertices, mesh.faces[1:]).any()  # a hole


def test_winding_numbers_count_the_boxes_around_a_point_even_on_their_edges() -> None:
    rng = np.random.default_rng(3)
    lo = rng.integers(0, 6, (30, 3)).astype(float)
    hi = lo + rng.integers(1, 5, (30, 3))
    mesh = union(*(trimesh.creation.box(bounds=[a, b]) for a, b in zip(lo, hi, strict=True)))
    mesh.merge_vertices()
    # Points on the half-metre grid land on faces, edges and corners of the boxes.
    points = rng.integers(0, 20, (5_000, 3)) / 2.0
    w = winding_numbers(mesh.vertices, mesh.faces, points)
    strictly = np.all((points[:, None] > lo) & (points[:, None] < hi), axis=2).sum(axis=1)
    closed = np.all((points[:, None] >= lo) & (points[:, None] <= hi), axis=2).sum(axis=1)
    assert np.all((strictly <= w) & (w <= closed))
    assert np.array_equal(w[strictly == closed], strictly[strictly == closed])
    assert (strictly != closed).sum() > 1_000 and (strictly > 1).sum() > 100


@pytest.mark.render
def test_the_scene_draws_fewer_triangles_and_shows_no_holes() -> None:
    import pyvista as pv

    from viewer.scene import BuildingScene, plotter_theme

    _, studded = studded_wall()
    _, sensors = facade_grid(2)  # the first sits on the wall's front, at (5, 0, 5)
    wing = union(block((0, 0, 0), (8, 8, 8)), block((4, 2, 2), (12, 6, 6)))
    wing.apply_translation((0, 12, 0))
    mesh = union(studded, wing)
    size = (320, 240)
    scene_pl: Any = pv.Plotter(off_screen=True, window_size=list(size), theme=plotter_theme())
    whole_pl: Any = pv.Plotter(off_screen=True, window_size=list(size), theme=plotter_theme())
    try:
        scene = BuildingScene(scene_pl, mesh, sensors[:1], scalar_bar=False)
        whole = pv.PolyData.from_regular_faces(np.asarray(mesh.vertices), np.asarray(mesh.faces))
        whole_pl.add_mesh(whole, color="grey", lighting=False, culling="back")
        hidden = hidden_faces(mesh.vertices, mesh.faces)
        assert scene.building.n_cells == len(mesh.faces) - hidden.sum() < len(mesh.faces)
        assert len(scene.building.cell_data["zone_health"]) == scene.building.n_cells
        centre = mesh.bounds.mean(axis=0)
        for pl in (scene_pl, whole_pl):
            pl.show(auto_close=False)
        for azimuth in range(0, 360, 45):
            for elevation in (-30, 20, 70):
                a, e = np.radians(azimuth), np.radians(elevation)
                eye = centre + 40 * np.array(
                    [np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)]
                )
                shown = []
                for pl in (scene_pl, whole_pl):
                    pl.camera_position = [tuple(eye), tuple(centre), (0, 0, 1)]
                    pl.reset_camera_clipping_range()
                    pl.render()
                    img = np.asarray(pl.screenshot(return_img=True))[..., :3]
                    shown.append(np.any(img != 255, axis=2))  # not the white background
                assert shown[1].sum() > 1_000
                holes = shown[1] & ~shown[0]
                assert not holes.any(), f"{holes.sum()} pixels see through at {azimuth}/{elevation}"
    finally:
        scene_pl.close()
        whole_pl.close()

    # An open facade is drawn whole.
    grid, _ = facade_grid(2_000)
    pl = pv.Plotter(off_screen=True, window_size=list(size), theme=plotter_theme())
    try:
        assert BuildingScene(pl, grid, sensors).building.n_cells == len(grid.faces)
    finally:
        pl.close()


def _arrays(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)
