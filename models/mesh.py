"""Loading building meshes (glTF/GLB, OBJ, STL, PLY) and nearest-surface queries.

Every loader returns one Z-up ``trimesh.Trimesh`` with merged vertices; materials and
textures are dropped because the twin colours the mesh itself.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import trimesh

FORMATS = frozenset({"glb", "gltf", "obj", "stl", "ply"})
_Y_UP_FORMATS = frozenset({"glb", "gltf"})
# glTF is Y-up: +90 degrees about X takes its +Y to our +Z (and its +Z to our -Y).
_Y_UP_TO_Z_UP = trimesh.transformations.rotation_matrix(np.pi / 2, [1.0, 0.0, 0.0])


class MeshError(ValueError):
    """A mesh source that cannot be turned into a usable triangle mesh."""


def load_mesh(
    source: str | Path | bytes,
    *,
    file_type: str | None = None,
    max_triangles: int = 5_000_000,
) -> trimesh.Trimesh:
    """Load a mesh file (a path) or its bytes as one Z-up triangle mesh.

    The format comes from ``file_type``, else the file extension, else the bytes'
    signature. Scenes are flattened with their node transforms applied.
    Raises MeshError with the reason for anything unusable.
    """
    if isinstance(source, bytes):
        if not source:
            raise MeshError("empty mesh data")
        fmt = _normalise_type(file_type) if file_type else _sniff(source)
        file_obj: str | io.BytesIO = io.BytesIO(source)
    else:
        path = Path(source)
        fmt = _normalise_type(file_type or path.suffix)
        if not path.is_file():
            raise MeshError(f"cannot read mesh file {str(path)!r}: no such file")
        if path.stat().st_size == 0:
            raise MeshError(f"mesh file {str(path)!r} is empty")
        file_obj = str(path)  # a path lets glTF and OBJ find their side files
    mesh = _flatten(_parse(file_obj, fmt), max_triangles)
    if fmt in _Y_UP_FORMATS:
        mesh.apply_transform(_Y_UP_TO_Z_UP)
    return mesh


def _normalise_type(file_type: str) -> str:
    fmt = file_type.lower().lstrip(".")
    if fmt not in FORMATS:
        raise MeshError(f"unknown mesh format {file_type!r}; expected one of {sorted(FORMATS)}")
    return fmt


def _sniff(data: bytes) -> str:
    """Guess the format of mesh bytes from their signature."""
    head = data[:512].lstrip()
    if data.startswith(b"glTF"):
        return "glb"
    if head.startswith(b"{"):
        return "gltf"
    if head.startswith(b"ply"):
        return "ply"
    if len(data) >= 84 and 84 + 50 * int.from_bytes(data[80:84], "little") == len(data):
        return "stl"
    if head.startswith(b"solid"):
        return "stl"
    text = data[:65536].decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines()]
    if any(line.startswith("v ") for line in lines) and any(
        line.startswith("f ") for line in lines
    ):
        return "obj"
    raise MeshError("unknown mesh format: the data is not glTF/GLB, OBJ, STL or PLY")


def _parse(file_obj: str | io.BytesIO, fmt: str) -> trimesh.Scene:
    # Parsers of untrusted files fail in many ways (struct, json, index errors,
    # numpy warnings): every one of them means "broken file" to our callers.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return trimesh.load_scene(file_obj, file_type=fmt)
    except Exception as exc:
        raise MeshError(f"cannot read {fmt} data: {type(exc).__name__}: {exc}"[:500]) from exc


def _flatten(scene: trimesh.Scene, max_triangles: int) -> trimesh.Trimesh:
    """All triangle geometry of a scene in world coordinates, as one mesh."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts = [g for g in scene.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces)]
            if not parts:
                raise MeshError("the file holds no triangles")
            n_faces = sum(len(g.faces) for g in parts)
            if n_faces > max_triangles:
                raise MeshError(f"mesh has {n_faces} triangles, more than {max_triangles}")
            vertices = np.vstack([g.vertices for g in parts])
            offsets = np.cumsum([0] + [len(g.vertices) for g in parts[:-1]])
            faces = np.vstack([g.faces + o for g, o in zip(parts, offsets, strict=True)])
            if not np.isfinite(vertices).all():
                raise MeshError("mesh has non-finite vertex coordinates")
            mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=True)
    except MeshError:
        raise
    except Exception as exc:
        raise MeshError(f"cannot assemble mesh: {type(exc).__name__}: {exc}"[:500]) from exc
    if len(mesh.faces) == 0:
        raise MeshError("the file holds no usable triangles")
    return mesh
