"""Triangles that no one outside a building can see: faces buried in, or lying against, other
parts of a model made of overlapping closed parts (slabs, walls, piers, ribs).

A software renderer pays for every triangle it is given, so the live scene leaves these out.
A triangle is hidden when the thin prism just outside it (the triangle swept ``eps`` along its
normal) lies wholly inside the model. Decided exactly, up to a contact tolerance of ``tol``:

1. the generalised winding number (how many parts contain a point) at the prism's centre is at
   least one. An axis-aligned ray sums the signed crossings of the surface; ties on projected
   edges and vertices are broken by simulation of simplicity, so none counts twice or never;
2. and no triangle cuts into the prism (separating axes), so the winding number is the same
   all over it; or every triangle that does is hidden itself, so the winding number is at
   least one on both sides of each cut.

Sampling a few points per triangle instead is not enough: on the Nanjing Building glazing bars
cover a pane's centroid, corners and edge midpoints, and the panes would vanish.
Only closed, outward-wound meshes (see :func:`viewer.outline.is_closed_outward`) qualify.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from viewer.outline import is_closed_outward

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

# Offset of the probe prism off each triangle, and the contact tolerance, relative to the
# model's diagonal: 1 mm and 1 µm on a 100 m building, well under its thinnest part.
_EPS_REL = 1e-5
_TOL_REL = 1e-8
_CHUNK = 1 << 18  # pairs tested per numpy pass: bounds the temporary arrays


def hidden_faces(vertices: npt.ArrayLike, faces: npt.ArrayLike) -> Mask:
    """One flag per face: True where the face cannot be seen from outside. Nothing is hidden on
    a mesh that is not closed and outward-wound (an open facade is seen from both sides).
    Computed once per mesh content and cached (a few recent meshes); the result is read-only."""
    v = np.ascontiguousarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.ascontiguousarray(faces, dtype=np.int64).reshape(-1, 3)
    if not is_closed_outward(v, f):
        return np.zeros(len(f), dtype=bool)
    return _hidden_cached(_MeshKey(v, f))


class _MeshKey:
    """Hashable by content, so one model's result is shared by every scene built on it."""

    def __init__(self, vertices: Floats, faces: Ints) -> None:
        self.vertices, self.faces = vertices, faces
        h = hashlib.blake2b(vertices.tobytes(), digest_size=16)
        h.update(faces.tobytes())
        self.digest = h.digest() + repr((vertices.shape, faces.shape)).encode()

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _MeshKey) and other.digest == self.digest


@functools.lru_cache(maxsize=4)
def _hidden_cached(key: _MeshKey) -> Mask:
    hidden = _hidden(key.vertices, key.faces)
    hidden.flags.writeable = False
    return hidden


def _hidden(v: Floats, f: Ints) -> Mask:
    if len(f) == 0:
        return np.zeros(0, dtype=bool)
    tri = v[f]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normal, axis=1)
    usable = length > 0
    unit = np.where(usable[:, None], normal / np.where(usable, length, 1.0)[:, None], 0.0)
    diagonal = float(np.linalg.norm(np.ptp(v, axis=0)))
    eps, tol = _EPS_REL * diagonal, _TOL_REL * diagonal
    # Half way up the prism: a surface through the probe then surely cuts into the prism.
    probe = tri.mean(axis=1) + 0.5 * eps * unit
    candidate = np.flatnonzero(usable)
    candidate = candidate[winding_numbers(v, f, probe[candidate]) >= 1]
    pairs = [
        _crossing(tri, unit * eps, c, u, tol)
        for c, u in _prism_pairs(tri, unit, candidate, eps, tol)
    ]
    cut_by = np.concatenate([u for _, u in pairs] or [np.zeros(0, np.int64)])
    cut = np.concatenate([c for c, _ in pairs] or [np.zeros(0, np.int64)])
    # A triangle cut into by others is hidden once they all are: every part of its prism then
    # borders a hidden triangle, and the winding number is at least one on both sides of one.
    # Grown from the uncut ones, so a ring of triangles vouching only for each other is drawn.
    hidden = np.zeros(len(f), dtype=bool)
    hidden[candidate] = True
    hidden[cut] = False
    while True:
        blocked = np.zeros(len(f), dtype=bool)
        blocked[cut[~hidden[cut_by]]] = True
        grown = np.zeros(len(f), dtype=bool)
        grown[candidate] = ~blocked[candidate]
        if np.array_equal(grown, hidden):
            return hidden
        hidden = grown


def _crossing(tri: Floats, offset: Floats, c: Ints, u: Ints, tol: float) -> tuple[Ints, Ints]:
    """The pairs (c, u) where triangle u cuts into c's prism."""
    # First the cheapest test: u must reach into the slab the prism stands in. Heights are in
    # prism heights, 0 on the triangle, 1 on the prism's top.
    t0, n = tri[c, 0], offset[c]
    height = np.einsum("kvj,kj->kv", tri[u] - t0[:, None], n) / np.einsum("kj,kj->k", n, n)[:, None]
    slack = tol / np.linalg.norm(n, axis=1)
    keep = (height.max(axis=1) > slack) & (height.min(axis=1) < 1 - slack)
    c, u = c[keep], u[keep]
    hit = _prism_meets_triangle(tri[c], offset[c], tri[u], tol)
    return c[hit], u[hit]


def winding_numbers(vertices: npt.ArrayLike, faces: npt.ArrayLike, points: npt.ArrayLike) -> Ints:
    """How many times the closed surface(s) wind around each point: for a union of closed,
    outward-wound parts, how many parts contain it. A point on the surface counts as lying
    just off it, on one side or the other."""
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    out = np.zeros(len(p), dtype=np.int64)
    if len(f) == 0 or len(p) == 0:
        return out
    tri = v[f]
    # Each point casts its ray along the axis, either way, that leaves the model soonest: it
    # then crosses few triangles (a street-facade probe leaves through the facade, not the roof).
    lo, hi = tri.reshape(-1, 3).min(axis=0), tri.reshape(-1, 3).max(axis=0)
    ray = np.argmin(np.concatenate([hi - p, p - lo], axis=1), axis=1)
    for r in range(6):
        chosen = np.flatnonzero(ray == r)
        if len(chosen):
            out[chosen] = _ray_crossings(tri, p[chosen], axis=r % 3, forward=r < 3)
    return out


def _ray_crossings(tri: Floats, p: Floats, *, axis: int, forward: bool) -> Ints:
    """Signed crossings of the rays from ``p`` along +``axis`` (or -``axis``), the projection
    on the other two axes decided exactly on ties (simulation of simplicity)."""
    out = np.zeros(len(p), dtype=np.int64)
    plane = [(1, 2), (2, 0), (0, 1)][axis]  # right-handed: (u, v, axis)
    a = tri[..., plane]
    b = np.roll(a, -1, axis=1)
    # Canonical edges: each ordered low to high (u, then v), so the two triangles sharing an
    # edge compute bitwise the same edge function, one of them negated.
    flip = (a[..., 0] > b[..., 0]) | ((a[..., 0] == b[..., 0]) & (a[..., 1] > b[..., 1]))
    lo = np.where(flip[..., None], b, a)
    d = np.where(flip[..., None], a, b) - lo
    # A point exactly on an edge is nudged by (e, e²): to the edge's right unless it runs along u.
    tie = np.where(d[..., 1] != 0, -np.sign(d[..., 1]), np.sign(d[..., 0]))
    sign = np.where(flip, -1.0, 1.0)
    depth = tri[..., axis] if forward else -tri[..., axis]
    # Triangles seen edge-on along the ray (a zero-length projected edge) are never crossed;
    # nor are those wholly behind every point.
    keep = np.all(np.any(d != 0, axis=-1), axis=1) & (
        depth.max(axis=1) >= (p[:, axis] if forward else -p[:, axis]).min()
    )
    tri, a, lo, d, depth = tri[keep], a[keep], lo[keep], d[keep], depth[keep]
    tie, sign = tie[keep] * sign[keep], sign[keep]
    if len(tri) == 0:
        return out
    q_uv, q_depth = p[:, plane], p[:, axis] if forward else -p[:, axis]
    for q, t in _column_pairs(a, depth.max(axis=1), q_uv, q_depth):
        rel = q_uv[q, None, :] - lo[t]
        e = (d[t, :, 0] * rel[..., 1] - d[t, :, 1] * rel[..., 0]) * sign[t]
        s = np.where(e != 0, np.sign(e), tie[t])
        inside = (s[:, 0] == s[:, 1]) & (s[:, 1] == s[:, 2])
        # Depth of the crossing, from barycentric weights (stable for steep triangles too).
        weights = e[:, [1, 2, 0]]
        total = weights.sum(axis=1)
        at = np.einsum("ij,ij->i", weights, depth[t]) / np.where(total != 0, total, 1.0)
        crossed = inside & (total != 0) & (at > q_depth[q])
        # Leaving a part forwards crosses a face whose normal points along the ray.
        np.add.at(out, q[crossed], s[crossed, 0].astype(np.int64))
    return out if forward else -out


def _column_pairs(
    tri_uv: Floats, tri_far: Floats, q_uv: Floats, q_depth: Floats
) -> Iterator[tuple[Ints, Ints]]:
    """(point, triangle) pairs where the triangle's projected box covers the point's grid cell
    and reaches beyond the point's depth, via a uniform grid over the projection plane."""
    lo, hi = tri_uv.min(axis=1), tri_uv.max(axis=1)
    origin = lo.min(axis=0)
    extent = float(np.max(hi.max(axis=0) - origin))
    cell = max(extent / np.sqrt(len(tri_uv)), 1e-9)
    n = int(np.ceil(extent / cell)) + 1
    i0 = np.floor((lo - origin) / cell).astype(np.int64)
    i1 = np.floor((hi - origin) / cell).astype(np.int64)
    entry_cell, entry_tri = _cells_of_boxes(i0, i1, n)
    # Sort by cell, then by how far each triangle reaches: a point's triangles are then one
    # run, from the first that reaches beyond it to the end of its cell.
    d_lo = min(float(tri_far.min()), float(q_depth.min()))
    span = (max(float(tri_far.max()), float(q_depth.max())) - d_lo) * 1.001 + 1e-9
    entry_key = entry_cell + (tri_far[entry_tri] - d_lo) / span
    order = np.argsort(entry_key)
    entry_key, entry_tri = entry_key[order], entry_tri[order]
    ip = np.floor((q_uv - origin) / cell).astype(np.int64)
    inside = np.all((ip >= 0) & (ip < n), axis=1)
    point_cell = np.where(inside, ip[:, 0] * n + ip[:, 1], -1)
    # A little before the point's own depth, so rounding in the key never drops a triangle.
    start = np.searchsorted(entry_key, point_cell + (q_depth - d_lo) / span - 1e-9, side="left")
    end = np.searchsorted(entry_key, point_cell + 1.0, side="left")
    count = np.where(inside, end - start, 0)
    yield from _expand(start, np.maximum(count, 0), entry_tri)


def _cells_of_boxes(i0: Ints, i1: Ints, n: int) -> tuple[Ints, Ints]:
    """(cell, box) for every grid cell each box ``[i0, i1]`` (inclusive, 2 or 3 axes) covers."""
    span = i1 - i0 + 1
    count = np.prod(span, axis=1)
    box = np.repeat(np.arange(len(i0)), count)
    k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    cell = np.zeros(len(box), dtype=np.int64)
    for axis in range(i0.shape[1]):
        rest = np.prod(span[:, axis + 1 :], axis=1)[box] if axis + 1 < i0.shape[1] else 1
        cell = cell * n + i0[box, axis] + (k // rest) % span[box, axis]
    return cell, box


def _expand(start: Ints, count: Ints, entries: Ints) -> Iterator[tuple[Ints, Ints]]:
    """For each query i, the pairs (i, entries[start[i] : start[i] + count[i]]), in chunks."""
    ends = np.cumsum(count)
    first = 0
    while first < len(count):
        base = ends[first - 1] if first else 0
        last = max(int(np.searchsorted(ends, base + _CHUNK, side="right")), first + 1)
        c = count[first:last]
        q = np.repeat(np.arange(first, last), c)
        k = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
        yield q, entries[start[q] + k]
        first = last


def _prism_pairs(
    tri: Floats, unit: Floats, candidate: Ints, eps: float, tol: float
) -> Iterator[tuple[Ints, Ints]]:
    """(candidate, other) pairs whose bounding boxes overlap: the only triangles that could cut
    into a candidate's prism."""
    if len(candidate) == 0:
        return
    prism = np.concatenate([tri[candidate], tri[candidate] + eps * unit[candidate, None]], 1)
    p_lo, p_hi = prism.min(axis=1), prism.max(axis=1)
    t_lo, t_hi = tri.min(axis=1), tri.max(axis=1)
    origin = t_lo.min(axis=0) - 2 * eps
    extent = float(np.max(t_hi.max(axis=0) - origin)) + 4 * eps
    # Cells under half a typical triangle's size: fewer pairs per cell than larger cells,
    # fewer cells per big face than smaller ones (measured on the Nanjing Building).
    cell = max(0.4 * float(np.median(np.max(t_hi - t_lo, axis=1))), extent / 1024, 1e-9)
    n = int(np.ceil(extent / cell)) + 1

    def index(x: Floats) -> Ints:
        return np.floor((x - origin) / cell).astype(np.int64)

    t_cell, t_box = _cells_of_boxes(index(t_lo), index(t_hi), n)
    p_cell, p_box = _cells_of_boxes(index(p_lo), index(p_hi), n)
    order = np.argsort(t_cell, kind="stable")
    t_cell, t_box = t_cell[order], t_box[order]
    start = np.searchsorted(t_cell, p_cell, side="left")
    count = np.searchsorted(t_cell, p_cell, side="right") - start
    for e, u in _expand(start, count, t_box):
        c, box_lo, box_hi = candidate[p_box[e]], p_lo[p_box[e]], p_hi[p_box[e]]
        # Boxes must reach more than tol into each other (a flat box lying inside another
        # does): the neighbours behind a triangle and those beside it only touch its prism.
        keep = np.all((t_hi[u] > box_lo + tol) & (t_lo[u] < box_hi - tol), axis=1) & (u != c)
        c, u, box_lo, box_hi, cells = c[keep], u[keep], box_lo[keep], box_hi[keep], p_cell[e[keep]]
        # Report a pair once: in the cell holding the low corner of the boxes' overlap.
        home = index(np.maximum(box_lo, t_lo[u]))
        home_cell = (home[:, 0] * n + home[:, 1]) * n + home[:, 2]
        keep = home_cell == cells
        yield c[keep], u[keep]


def _prism_meets_triangle(t: Floats, offset: Floats, u: Floats, tol: float) -> Mask:
    """Whether triangle ``u`` reaches more than ``tol`` into the prism swept by triangle ``t``
    along ``offset`` (separating-axis test; touching is not meeting). Row-wise."""
    t_edges = np.roll(t, -1, axis=1) - t
    # The prism's sides reject most pairs: try them alone first.
    meets = ~_apart(np.cross(offset[:, None], t_edges), t, offset, u, tol)
    t, offset, u, t_edges = t[meets], offset[meets], u[meets], t_edges[meets]
    u_edges = np.roll(u, -1, axis=1) - u
    prism_edges = np.concatenate([t_edges, offset[:, None]], axis=1)
    axes = np.concatenate(
        [
            offset[:, None],
            np.cross(u_edges[:, 0], u_edges[:, 1])[:, None],
            np.cross(u_edges[:, :, None], prism_edges[:, None, :]).reshape(-1, 12, 3),
        ],
        axis=1,
    )
    meets[meets] = ~_apart(axes, t, offset, u, tol)
    return meets


def _apart(axes: Floats, t: Floats, offset: Floats, u: Floats, tol: float) -> Mask:
    """Row-wise: whether any of ``axes`` (k, a, 3) separates the prism from ``u``."""
    norm = np.sqrt(np.einsum("kaj,kaj->ka", axes, axes))
    axes = axes / np.where(norm > 0, norm, 1.0)[..., None]  # parallel edges: no verdict

    def along(points: Floats) -> Floats:  # (k, 3) points on every axis: (k, a)
        return np.einsum("kaj,kj->ka", axes, points)

    t_on = [along(t[:, i]) for i in range(3)]
    u_on = [along(u[:, i]) for i in range(3)]
    sweep = along(offset)
    t_lo = np.minimum.reduce(t_on) + np.minimum(sweep, 0.0)
    t_hi = np.maximum.reduce(t_on) + np.maximum(sweep, 0.0)
    u_lo, u_hi = np.minimum.reduce(u_on), np.maximum.reduce(u_on)
    apart = ((t_hi <= u_lo + tol) | (u_hi <= t_lo + tol)) & (norm > 0)
    return np.asarray(np.any(apart, axis=1))
