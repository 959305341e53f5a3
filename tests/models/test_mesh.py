"""Loading meshes: formats, glTF Y-up to Z-up, scene flattening, refusal of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pygltflib
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from models.mesh import MeshError, load_mesh


def _tall_box() -> trimesh.Trimesh:
    """A 1 x 10 x 2 box, tall along +Y as a glTF author would model it."""
    return trimesh.creation.box(extents=[1.0, 10.0, 2.0])


def _scene_glb() -> bytes:
    scene = trimesh.Scene()
    scene.add_geometry(_tall_box(), node_name="a", geom_name="box")
    shift = trimesh.transformations.translation_matrix([20.0, 0.0, -5.0])
    scene.add_geometry(_tall_box(), node_name="b", geom_name="box2", transform=shift)
    return bytes(scene.export(file_type="glb"))


def _non_indexed_glb() -> bytes:
    """A GLB written by hand: one triangle-soup mesh (no index buffer), two nodes."""
    box = _tall_box()
    soup = box.vertices[box.faces].reshape(-1, 3).astype(np.float32)
    blob = soup.tobytes()
    gltf = pygltflib.GLTF2(
        scene=0,
        scenes=[pygltflib.Scene(nodes=[0, 1])],
        nodes=[
            pygltflib.Node(mesh=0, translation=[20.0, 0.0, -5.0]),
            # rotated +90 degrees about glTF Z: the tall Y axis now lies along -X
            pygltflib.Node(mesh=0, rotation=[0.0, 0.0, np.sqrt(0.5), np.sqrt(0.5)]),
        ],
        meshes=[
            pygltflib.Mesh(
                primitives=[pygltflib.Primitive(attributes=pygltflib.Attributes(POSITION=0))]
            )
        ],
        accessors=[
            pygltflib.Accessor(
                bufferView=0,
                componentType=pygltflib.FLOAT,
                count=len(soup),
                type=pygltflib.VEC3,
                min=soup.min(axis=0).tolist(),
                max=soup.max(axis=0).tolist(),
            )
        ],
        bufferViews=[
            pygltflib.BufferView(buffer=0, byteLength=len(blob), target=pygltflib.ARRAY_BUFFER)
        ],
        buffers=[pygltflib.Buffer(byteLength=len(blob))],
    )
    gltf.set_binary_blob(blob)
    return b"".join(gltf.save_to_bytes())


def test_glb_scene_is_z_up_with_node_transforms_applied() -> None:
    mesh = load_mesh(_scene_glb())
    assert len(mesh.faces) == 24
    # glTF (x, y, z) becomes (x, -z, y): the tall Y axis is now Z, node b's z=-5 is y=+5
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -1.0, -5.0], [20.5, 6.0, 5.0]], atol=1e-6)
    parts = mesh.split(only_watertight=False)
    assert sorted(np.round(p.extents[2], 6) for p in parts) == [10.0, 10.0]


def test_non_indexed_gltf_with_rotated_instance() -> None:
    mesh = load_mesh(_non_indexed_glb(), file_type="glb")
    assert len(mesh.faces) == 24
    parts = sorted(mesh.split(only_watertight=False), key=lambda p: p.centroid[0])
    rotated, shifted = parts
    np.testing.assert_allclose(shifted.extents, [1.0, 2.0, 10.0], atol=1e-5)
    np.testing.assert_allclose(shifted.centroid, [20.0, 5.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(rotated.extents, [10.0, 2.0, 1.0], atol=1e-5)


def test_glb_from_path(tmp_path: Path) -> None:
    path = tmp_path / "building.glb"
    path.write_bytes(_scene_glb())
    assert load_mesh(path).extents[2] == pytest.approx(10.0)
    assert load_mesh(str(path)).extents[2] == pytest.approx(10.0)


@pytest.mark.parametrize("fmt", ["obj", "stl", "ply"])
def test_round_trip_keeps_z_up(fmt: str, tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=[2.0, 3.0, 7.0])
    box.apply_translation([10.0, 20.0, 3.5])
    data = box.export(file_type=fmt)
    data = data.encode() if isinstance(data, str) else bytes(data)
    path = tmp_path / f"box.{fmt}"
    path.write_bytes(data)
    for mesh in (load_mesh(data, file_type=fmt), load_mesh(data), load_mesh(path)):
        np.testing.assert_allclose(mesh.bounds, box.bounds, atol=1e-5)
        assert len(mesh.faces) == 12
        assert mesh.volume == pytest.approx(42.0)


@pytest.mark.parametrize(
    ("data", "file_type", "reason"),
    [
        (b"", None, "empty"),
        (b"\x00\x01garbage\xff" * 10, None, "unknown mesh format"),
        (b"glTF" + b"\x00" * 40, None, "cannot read glb"),
        (b'{"asset": {"version": "2.0"}, "meshes": [{}]', None, "cannot read gltf"),
        (b"solid x\nfacet normal 0 0 1\nendsolid", None, "no triangles"),
        (b"not a mesh", "obj", "triangles"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "fbx", "unknown mesh format"),
    ],
)
def test_bad_bytes_are_refused(data: bytes, file_type: str | None, reason: str) -> None:
    with pytest.raises(MeshError, match=reason):
        load_mesh(data, file_type=file_type)


def test_point_cloud_ply_has_no_triangles() -> None:
    cloud = trimesh.PointCloud(np.random.default_rng(1).random((20, 3)))
    with pytest.raises(MeshError, match="no triangles"):
        load_mesh(bytes(cloud.export(file_type="ply")), file_type="ply")


def test_too_many_triangles() -> None:
    data = bytes(trimesh.creation.icosphere(subdivisions=2).export(file_type="stl"))
    assert len(load_mesh(data, max_triangles=320).faces) == 320
    with pytest.raises(MeshError, match="320 triangles, more than 319"):
        load_mesh(data, max_triangles=319)


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(MeshError, match="no such file"):
        load_mesh(tmp_path / "missing.glb")
    (tmp_path / "model.fbx").write_bytes(b"xx")
    with pytest.raises(MeshError, match="unknown mesh format"):
        load_mesh(tmp_path / "model.fbx")
    (tmp_path / "empty.stl").write_bytes(b"")
    with pytest.raises(MeshError, match="empty"):
        load_mesh(tmp_path / "empty.stl")


_PREFIXES = [b"", b"glTF", b"\x02\x00\x00\x00glTF", b"ply\n", b"solid ", b"v 0 0 0\nf ", b"{"]


@settings(max_examples=50, deadline=None)
@given(
    prefix=st.sampled_from(_PREFIXES),
    body=st.binary(max_size=400),
    file_type=st.sampled_from([None, "glb", "gltf", "obj", "stl", "ply"]),
)
def test_random_bytes_raise_only_mesh_error(
    prefix: bytes, body: bytes, file_type: str | None
) -> None:
    try:
        mesh = load_mesh(prefix + body, file_type=file_type)
    except MeshError:
        return
    assert len(mesh.faces) > 0
