"""Repairing loaded meshes: what load_mesh merged, degenerate and duplicate faces, winding."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from models.mesh import MeshError, load_mesh, repair_mesh


def _sphere() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=2, radius=5.0)


def test_clean_mesh_needs_nothing() -> None:
    mesh = load_mesh(bytes(_sphere().export(file_type="ply")))
    faces = mesh.faces.copy()
    assert repair_mesh(mesh) == []
    np.testing.assert_array_equal(mesh.faces, faces)


def test_stl_corners_are_not_reported_as_duplicates() -> None:
    mesh = load_mesh(bytes(_sphere().export(file_type="stl")))
    assert repair_mesh(mesh) == []


def test_unused_vertices_are_reported() -> None:
    ply = (
        b"ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
        b"property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
        b"end_header\n0 0 0\n1 0 0\n0 1 0\n9 9 9\n3 0 1 2\n"
    )
    mesh = load_mesh(ply, file_type="ply")
    assert repair_mesh(mesh) == ["dropped 1 vertices no triangle uses"]
    assert repair_mesh(mesh) == []  # reported once


def test_all_degenerate_is_refused() -> None:
    obj = b"v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n"
    with pytest.raises(MeshError, match="no usable triangles"):
        repair_mesh(load_mesh(obj, file_type="obj"))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 319), max_size=150, unique=True))
def test_flipped_faces_are_rewound(flipped: list[int]) -> None:
    sphere = _sphere()
    faces = sphere.faces.copy()
    faces[flipped] = faces[flipped, ::-1]
    mesh = trimesh.Trimesh(sphere.vertices, faces, process=False)
    repairs = repair_mesh(mesh)
    assert mesh.is_winding_consistent
    assert mesh.volume == pytest.approx(sphere.volume)  # and outwards
    assert (f"re-wound {len(flipped)} faces to agree with their neighbours" in repairs) == bool(
        flipped
    )


def test_each_part_keeps_its_majority_and_inside_out_parts_turn() -> None:
    a = _sphere()
    b = _sphere().apply_translation([20.0, 0.0, 0.0])
    b.invert()  # a whole part inside out: consistent winding, negative volume
    c = _sphere().apply_translation([40.0, 0.0, 0.0])
    c.faces[:3] = c.faces[:3, ::-1]  # a few faces wrong in a third part
    mesh = trimesh.Trimesh(
        *trimesh.util.append_faces([m.vertices for m in (a, b, c)], [m.faces for m in (a, b, c)])
    )
    repairs = repair_mesh(mesh)
    assert repairs == [
        "re-wound 3 faces to agree with their neighbours",
        "turned 320 faces of inside-out closed parts to face outwards",
    ]
    assert mesh.volume == pytest.approx(3 * a.volume)


def test_open_surfaces_get_consistent_winding() -> None:
    # A facade: an open 10 x 10 grid whose winding alternates; no inside to turn outwards.
    n = 11
    x, z = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    vertices = np.column_stack([x.ravel(), np.zeros(n * n), z.ravel()])
    corner = (np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None, :]).ravel()
    faces = np.vstack(
        [
            np.column_stack([corner, corner + 1, corner + n + 1]),
            np.column_stack([corner, corner + n + 1, corner + n]),
        ]
    )
    faces[::2] = faces[::2, ::-1]
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert not mesh.is_winding_consistent
    assert repair_mesh(mesh) == ["re-wound 100 faces to agree with their neighbours"]
    assert mesh.is_winding_consistent
    assert len(np.unique(np.round(mesh.face_normals, 6), axis=0)) == 1
