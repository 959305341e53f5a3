"""Loading building meshes (glTF/GLB, OBJ, STL, PLY), repairing them, nearest-surface queries.

Every loader returns one Z-up ``trimesh.Trimesh`` with merged vertices; materials and
textures are dropped because the twin colours the mesh itself.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse import csgraph

FORMATS = frozenset({"glb", "gltf", "obj", "stl", "ply"})
_Y_UP_FORMATS = frozenset({"glb", "gltf"})
# glTF is Y-up: +90 degrees about X takes its +Y to our +Z (and its +Z to our -Y).
_Y_UP_TO_Z_UP = trimesh.transformations.rotation_matrix(np.pi / 2, [1.0, 0.0, 0.0])
# Set by load_mesh in ``mesh.metadata``: vertices the file repeated at one position (merged)
# and vertices no triangle used (dropped), for repair_mesh to report.
DUPLICATE_VERTICES_KEY = "duplicate_vertices"
UNUSED_VERTICES_KEY = "unused_vertices"


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
    if fmt == "stl":  # STL cannot share corners between triangles: merging them is no repair
        mesh.metadata[DUPLICATE_VERTICES_KEY] = 0
    if fmt in _Y_UP_FORMATS:
        mesh.apply_transform(_Y_UP_TO_Z_UP)
    return mesh


def sniff_format(data: bytes) -> str:
    """The mesh format of ``data`` (one of FORMATS) from its signature, else MeshError."""
    return _sniff(data)


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
            # Unprocessed, so the vertices the file repeats can be counted when merged.
            return trimesh.load_scene(file_obj, file_type=fmt, process=False)
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
            used = len(np.unique(faces))
            mesh.metadata[DUPLICATE_VERTICES_KEY] = used - len(mesh.vertices)
            mesh.metadata[UNUSED_VERTICES_KEY] = len(vertices) - used
    except MeshError:
        raise
    except Exception as exc:
        raise MeshError(f"cannot assemble mesh: {type(exc).__name__}: {exc}"[:500]) from exc
    if len(mesh.faces) == 0:
        raise MeshError("the file holds no usable triangles")
    return mesh


def repair_mesh(mesh: trimesh.Trimesh) -> list[str]:
    """Repair ``mesh`` in place where trimesh can, and say what was changed (nothing: []).

    Reports the vertices load_mesh merged or dropped, removes degenerate and duplicate faces,
    makes the winding of each connected patch agree, and turns closed bodies that are inside
    out so their normals point outwards. Raises MeshError when no triangle survives.
    """
    repairs = []
    duplicates = int(mesh.metadata.get(DUPLICATE_VERTICES_KEY, 0))
    if duplicates:
        repairs.append(f"merged {duplicates} duplicate vertices")
    unused = int(mesh.metadata.get(UNUSED_VERTICES_KEY, 0))
    if unused:
        repairs.append(f"dropped {unused} vertices no triangle uses")
    for keep, what in (
        (mesh.nondegenerate_faces, "degenerate (zero-area) faces"),
        (mesh.unique_faces, "duplicate faces"),
    ):
        mask = keep()
        if not mask.all():
            mesh.update_faces(mask)
            repairs.append(f"removed {int((~mask).sum())} {what}")
    if len(mesh.faces) == 0:
        raise MeshError("no usable triangles remain: every face is degenerate")
    mesh.remove_unreferenced_vertices()
    rewound = _fix_winding(mesh)
    if rewound:
        repairs.append(f"re-wound {rewound} faces to agree with their neighbours")
    before = mesh.faces.copy()
    trimesh.repair.fix_inversion(mesh, multibody=True)
    inverted = int((mesh.faces != before).any(axis=1).sum())
    if inverted:
        repairs.append(f"turned {inverted} faces of inside-out closed parts to face outwards")
    mesh.metadata[DUPLICATE_VERTICES_KEY] = mesh.metadata[UNUSED_VERTICES_KEY] = 0
    return repairs


def _fix_winding(mesh: trimesh.Trimesh) -> int:
    """Flip the fewest faces so that neighbours traverse each shared edge in opposite
    directions; returns how many faces were flipped.

    trimesh.repair.fix_winding does this with networkx, one face pair at a time; here each
    face's flip is the parity of the disagreements on its path to the root of a BFS forest.
    """
    if mesh.is_winding_consistent:
        return 0
    faces = mesh.faces.view(np.ndarray)
    n_faces = len(faces)
    pairs = mesh.face_adjacency
    pairs, first = np.unique(np.sort(pairs, axis=1), axis=0, return_index=True)
    u, v = mesh.face_adjacency_edges[first].T

    def forward(rows: np.ndarray) -> np.ndarray:  # does the face run u -> v on this edge?
        f = faces[rows]
        return ((f == u[:, None]) & (np.roll(f, -1, axis=1) == v[:, None])).any(axis=1)

    disagree = forward(pairs[:, 0]) == forward(pairs[:, 1])
    # A virtual root (index n_faces) joined to one face of every patch makes one BFS forest.
    _, patch = csgraph.connected_components(
        sparse.coo_matrix(
            (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_faces, n_faces)
        ),
        directed=False,
    )
    roots = np.unique(patch, return_index=True)[1]
    rows = np.concatenate([pairs[:, 0], np.full(len(roots), n_faces)])
    cols = np.concatenate([pairs[:, 1], roots])
    # 1: neighbours agree, 2: they disagree (a zero weight would not be stored)
    weights = np.concatenate([disagree + 1, np.ones(len(roots))]).astype(np.int8)
    graph = sparse.coo_matrix((weights, (rows, cols)), shape=(n_faces + 1,) * 2).tocsr()
    graph = graph.maximum(graph.T).tocsr()
    order, parent = csgraph.breadth_first_order(
        graph, n_faces, directed=False, return_predecessors=True
    )
    nodes = order[1:]
    up = np.full(n_faces + 1, n_faces)
    up[nodes] = parent[nodes]
    flip = np.zeros(n_faces + 1, dtype=bool)
    flip[nodes] = np.asarray(graph[nodes, parent[nodes]]).ravel() == 2
    # Pointer jumping: after k rounds ``flip`` is the parity over 2**k steps towards the root.
    while (up[up] != up).any():
        flip ^= flip[up]
        up = up[up]
    flip = flip[:n_faces]
    # Keep each patch's majority orientation: flip its minority.
    flipped_per_patch = np.bincount(patch, weights=flip)
    size_per_patch = np.bincount(patch)
    flip ^= (2 * flipped_per_patch > size_per_patch)[patch]
    if flip.any():
        fixed = faces.copy()
        fixed[flip] = fixed[flip][:, ::-1]
        mesh.faces = fixed
    return int(flip.sum())
