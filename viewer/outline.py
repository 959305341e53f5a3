"""What the live scene draws of a building's shape besides its coloured surface: outline
edges worth their cost, and whether back faces can be skipped.

On a software renderer every line segment and every hidden triangle costs frame time, so
both are decided once per model, when the scene is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

# Creases sharper than this are drawn as edges: the corners of facades, floors and windows.
FEATURE_ANGLE_DEG = 30.0
# Runs of edges shorter than this (mouldings, mullion ends) are left out: under a pixel in an
# overview and about half of all segments on the Nanjing Building.
MIN_RUN_M = 0.25


def outline_edges(
    surface: Any, *, feature_angle_deg: float = FEATURE_ANGLE_DEG, min_run_m: float = MIN_RUN_M
) -> Any:
    """The feature edges of ``surface`` (a PyVista PolyData) as one line mesh, without runs
    shorter than ``min_run_m``. A run is a chain of segments through points where only two
    meet, so a curved outline made of short segments counts at its whole length."""
    import pyvista as pv

    edges = surface.extract_feature_edges(
        feature_angle_deg, boundary_edges=False, non_manifold_edges=False, manifold_edges=False
    )
    if not edges.n_cells or min_run_m <= 0:
        return edges
    points = np.asarray(edges.points, dtype=np.float64)
    segments = np.asarray(edges.lines).reshape(-1, 3)[:, 1:]
    length = np.linalg.norm(points[segments[:, 0]] - points[segments[:, 1]], axis=1)
    run = _runs(len(points), segments)
    keep = segments[np.bincount(run, weights=length)[run] >= min_run_m]
    lines = np.column_stack([np.full(len(keep), 2), keep]).ravel()
    return pv.PolyData(points, lines=lines).clean()  # clean: drop the points no line uses


def is_closed_outward(vertices: npt.ArrayLike, faces: npt.ArrayLike) -> bool:
    """Whether the triangles close up with consistent, outward winding: then no back face
    can be seen from outside, and the renderer may skip them (about half the triangles)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(f) == 0:
        return False
    # Closed and consistently wound: every directed edge a->b is matched by one b->a.
    start, end = f.ravel(), np.roll(f, -1, axis=1).ravel()
    n = np.int64(len(v))
    if not np.array_equal(np.sort(start * n + end), np.sort(end * n + start)):
        return False
    # Outward: the signed volume (divergence theorem) is positive.
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return bool(np.einsum("ij,ij->", a, np.cross(b, c)) > 0)


def _runs(n_points: int, segments: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """A run label per segment: segments sharing a point where exactly two meet join."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ends = segments.ravel()
    segment_of_end = np.repeat(np.arange(len(segments)), 2)
    order = np.argsort(ends, kind="stable")
    joints = np.nonzero(np.bincount(ends, minlength=n_points) == 2)[0]
    first = np.searchsorted(ends[order], joints)
    a, b = segment_of_end[order[first]], segment_of_end[order[first + 1]]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(segments), len(segments)))
    return np.asarray(connected_components(graph, directed=False)[1], dtype=np.int64)
