"""A procedural 1:1 stand-in for Shanghai's Nanjing Building (南京大楼), 1930s Art Deco.

Metres, Z up, origin at the street corner at pavement level, +x along Nanjing Road
East, +y along the side street; the building fills the +x,+y quadrant. Compass
names assume the building stands on the north side of Nanjing Road with the side
street to its west, so +x is east and +y is north. The street facades stand
1.0 m back from the x = 0 and y = 0 lines so cornices and fins stay in the quadrant.

These dimensions are ASSUMPTIONS for a recognisable procedural model, not survey
data (see docs/nanjing-building.md):

- footprint 56.0 m (Nanjing Road, south facade) x 38.5 m (side street, west facade);
  every plan dimension sits on a 3.5 m structural bay grid;
- 1F shop floor 5.4 m, 2F-6F 3.9 m each: main block roof (cornice) at 24.9 m;
- 7F set back 3.5 m and 8F 7.0 m from both street facades (3.6 m storeys);
- corner tower 14.0 x 14.0 m flush with both street facades from 7F to 10F
  (3.6 m storeys, roof at 39.3 m), a three-tier stepped crown to 47.8 m and a
  flagpole to 55.8 m;
- 0.40 m walls, piers every 3.5 m with Art Deco fins rising past the parapets,
  windows recessed between the piers, 0.30 m floor slabs, columns on a 7 m grid.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import trimesh

from models.layout import load_layout, nanjing_layout_path, place_sensors
from models.types import Building, Sensor

NANJING_BUILDING_ID = "nanjing-building"

WIDTH_M = 56.0  # along Nanjing Road (x)
DEPTH_M = 38.5  # along the side street (y)
BAY_M = 3.5  # pier pitch on every facade
WALL_M = 0.40
SLAB_M = 0.30
PIER_M = 0.90
GROUND_SLAB_TOP_M = 0.15  # the shop floor sits one step above the pavement
# Street facades stand back from the axes by this much, so overhangs keep x, y >= 0.
BUILDING_LINE_M = 1.0


@dataclass(frozen=True)
class Storey:
    """One storey: Chinese numbering, so level 1 is the ground floor."""

    level: int
    z_min: float
    z_max: float


def _storeys() -> tuple[Storey, ...]:
    heights = [5.4] + [3.9] * 5 + [3.6] * 4
    out, z = [], 0.0
    for level, h in enumerate(heights, start=1):
        out.append(Storey(level, round(z, 3), round(z + h, 3)))
        z += h
    return tuple(out)


STOREYS: tuple[Storey, ...] = _storeys()
_BELOW_GROUND_TOLERANCE_M = 0.5


def storey_at(z: float) -> int:
    """The storey whose height band holds ``z``; roofs and crown count as the top storey."""
    if z < -_BELOW_GROUND_TOLERANCE_M:
        raise ValueError(f"z={z:.2f} m is below the ground floor")
    for storey in STOREYS:
        if z < storey.z_max:
            return storey.level
    return STOREYS[-1].level


@dataclass(frozen=True)
class _Volume:
    """A rectangular block of storeys; walls are clipped where another volume continues."""

    x0: float
    y0: float
    x1: float
    y1: float
    levels: range
    detailed: bool  # street-grade facades on every side (the visible tower)


_TOWER = _Volume(0.0, 0.0, 14.0, 14.0, range(7, 11), True)
# Earlier volumes win where plans overlap (slabs and columns are built once).
_VOLUMES = (
    _TOWER,
    _Volume(0.0, 0.0, WIDTH_M, DEPTH_M, range(1, 7), False),
    _Volume(3.5, 3.5, WIDTH_M, DEPTH_M, range(7, 8), False),
    _Volume(7.0, 7.0, WIDTH_M, DEPTH_M, range(8, 9), False),
)
_STREET_SIDES = ("south", "west")
_Rect = tuple[float, float, float, float]
# Adds one box in wall coordinates: (u0, u1, w0, w1, z0, z1).
_AddBox = Callable[[float, float, float, float, float, float], None]


class _Boxes:
    """Collects axis-aligned boxes as (lo, hi) corners and meshes them in one go."""

    def __init__(self) -> None:
        self.corners: list[tuple[float, float, float, float, float, float]] = []

    def add(self, x0: float, y0: float, z0: float, x1: float, y1: float, z1: float) -> None:
        self.corners.append((x0, y0, z0, x1, y1, z1))

    def mesh_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        corners = np.array(self.corners, dtype=np.float64).reshape(-1, 2, 3)
        lo, hi = corners.min(axis=1), corners.max(axis=1)
        keep = np.all(hi - lo > 1e-6, axis=1)
        lo, hi = lo[keep], hi[keep]
        unit = trimesh.creation.box()  # outward-wound unit cube, for its template
        verts = (lo + hi)[:, None, :] / 2 + unit.vertices[None] * (hi - lo)[:, None, :]
        faces = unit.faces[None] + 8 * np.arange(len(lo))[:, None, None]
        return verts.reshape(-1, 3), faces.reshape(-1, 3)


def _wall_frame(side: str, v: _Volume) -> tuple[float, float, float]:
    """(axis of u: 0=x/1=y, plane coordinate, outward sign) of one wall of a volume."""
    return {
        "south": (0, v.y0, -1.0),
        "north": (0, v.y1, 1.0),
        "west": (1, v.x0, -1.0),
        "east": (1, v.x1, 1.0),
    }[side]


def _wall_adder(boxes: _Boxes, side: str, v: _Volume) -> _AddBox:
    """A box adder in wall coordinates: u along the wall, w outwards from the face, z up."""
    axis, plane, sign = _wall_frame(side, v)

    def add(u0: float, u1: float, w0: float, w1: float, z0: float, z1: float) -> None:
        n0, n1 = plane + sign * w0, plane + sign * w1
        if axis == 0:
            boxes.add(u0, n0, z0, u1, n1, z1)
        else:
            boxes.add(n0, u0, z0, n1, u1, z1)

    return add


def _wall_segments(side: str, v: _Volume, level: int) -> list[tuple[float, float]]:
    """The parts of a wall not inside another volume at the same storey."""
    axis, plane, _ = _wall_frame(side, v)
    u_lo, u_hi = (v.x0, v.x1) if axis == 0 else (v.y0, v.y1)
    segments = [(u_lo, u_hi)]
    for other in _VOLUMES:
        if other is v or level not in other.levels:
            continue
        o_plane = (other.y0, other.y1) if axis == 0 else (other.x0, other.x1)
        o_u = (other.x0, other.x1) if axis == 0 else (other.y0, other.y1)
        if not o_plane[0] < plane < o_plane[1]:
            continue
        segments = [
            piece
            for a, b in segments
            for piece in ((a, min(b, o_u[0])), (max(a, o_u[1]), b))
            if piece[1] - piece[0] > 1e-6
        ]
    return segments


def _facade(
    boxes: _Boxes, side: str, v: _Volume, seg: tuple[float, float], levels: list[int]
) -> None:
    """Piers, fins, recessed window bays and the crowning cornice of one wall segment."""
    add = _wall_adder(boxes, side, v)
    street = v.detailed or side in _STREET_SIDES
    z_bottom, z_top = STOREYS[levels[0] - 1].z_min, STOREYS[levels[-1] - 1].z_max
    roof = levels[-1] == v.levels[-1]
    k0, k1 = int(np.ceil(seg[0] / BAY_M - 1e-9)), int(np.floor(seg[1] / BAY_M + 1e-9))
    piers = sorted({seg[0], seg[1], *(k * BAY_M for k in range(k0, k1 + 1))})
    for c in piers:
        a, b = max(seg[0], c - PIER_M / 2), min(seg[1], c + PIER_M / 2)
        add(a, b, -WALL_M, 0.0, z_bottom, z_top)
        if z_bottom == 0.0:  # granite pier bases at street level
            add(a, b, 0.0, 0.08, 0.0, 1.2)
        major = round(c / BAY_M) % 2 == 0
        fin_w, fin_d = (0.22, 0.45) if major else (0.12, 0.2)
        fin_top = z_top + (1.6 if major and roof else 0.0)
        if street:
            fin_z0 = max(z_bottom, STOREYS[0].z_max)
            add(max(seg[0], c - fin_w), min(seg[1], c + fin_w), 0.0, fin_d, fin_z0, fin_top)
            if major:  # stepped fin face: the Art Deco double rib
                add(c - 0.08, c + 0.08, fin_d, fin_d + 0.12, fin_z0, fin_top - 0.4)
    for a, b in itertools.pairwise(piers):
        u0, u1 = a + PIER_M / 2, b - PIER_M / 2
        if u1 - u0 < 0.5:
            continue
        for level in levels:
            _window_bay(add, u0, u1, STOREYS[level - 1], street)
    if street and levels[0] == 1:  # string course over the shop floor
        add(seg[0], seg[1], -WALL_M, 0.3, STOREYS[0].z_max - 0.15, STOREYS[0].z_max + 0.15)
    if roof:
        _cornice(add, seg, z_top, street)


def _window_bay(add: _AddBox, u0: float, u1: float, storey: Storey, street: bool) -> None:
    """One recessed bay: spandrel, sill, steel casement with glazing bars, lintel."""
    z0, z1 = storey.z_min, storey.z_max
    shop = storey.level == 1
    sill, head = (z0 + 0.5, z1 - 1.3) if shop else (z0 + 0.95, z1 - 0.55)
    add(u0, u1, -WALL_M, -0.12, z0, sill)  # spandrel / stall riser
    add(u0, u1, -WALL_M, 0.05 if shop else -0.12, head, z1)  # lintel / shop fascia
    add(u0, u1, -0.32, -0.27, sill, head)  # glass, recessed behind the piers
    add(u0 - 0.05, u1 + 0.05, -0.32, 0.06, sill - 0.07, sill)  # sill
    for a, b in ((u0, u0 + 0.06), (u1 - 0.06, u1)):  # steel casement frame
        add(a, b, -0.27, -0.18, sill, head)
    for a, b in ((sill, sill + 0.06), (head - 0.06, head)):
        add(u0, u1, -0.27, -0.18, a, b)
    if street and not shop:  # reeded Art Deco spandrel panel
        p0, p1, pz0, pz1 = u0 + 0.3, u1 - 0.3, z0 + 0.2, sill - 0.2
        add(p0, p1, -0.12, -0.07, pz0, pz1)
        for u in np.linspace(p0 + 0.15, p1 - 0.15, 5):
            add(u - 0.04, u + 0.04, -0.07, -0.03, pz0 + 0.08, pz1 - 0.08)
    n_bars = 3 if street else 2
    for i in range(1, n_bars + 1):
        u = u0 + (u1 - u0) * i / (n_bars + 1)
        add(u - 0.035, u + 0.035, -0.27, -0.2, sill, head)
    for frac in (0.33, 0.7) if street else (0.7,):
        z = sill + (head - sill) * frac
        add(u0, u1, -0.27, -0.2, z - 0.03, z + 0.03)


def _cornice(add: _AddBox, seg: tuple[float, float], z: float, street: bool) -> None:
    """Stepped cornice, dentils and parapet at the top of a wall."""
    a, b = seg
    steps = ((0.15, 0.25), (0.3, 0.45), (0.45, 0.65)) if street else ((0.2, 0.3),)
    z_step = z - 0.5
    for height, depth in steps:
        add(a - depth, b + depth, -WALL_M, depth, z_step, z_step + height)
        z_step += height - 0.1
    add(a, b, -WALL_M, 0.0, z, z + 1.1)  # parapet
    add(a - 0.05, b + 0.05, -WALL_M - 0.05, 0.08, z + 1.1, z + 1.22)  # coping
    if street:
        for u in np.arange(a + 0.3, b - 0.2, 0.45):
            add(u, u + 0.18, 0.0, 0.22, z - 0.75, z - 0.5)


def _rect_minus(r: _Rect, cut: _Rect) -> list[_Rect]:
    """Rectangle difference as up to four disjoint rectangles."""
    x0, y0, x1, y1 = r
    cx0, cy0, cx1, cy1 = max(x0, cut[0]), max(y0, cut[1]), min(x1, cut[2]), min(y1, cut[3])
    if cx0 >= cx1 or cy0 >= cy1:
        return [r]
    parts = [(x0, y0, x1, cy0), (x0, cy1, x1, y1), (x0, cy0, cx0, cy1), (cx1, cy0, x1, cy1)]
    return [p for p in parts if p[2] - p[0] > 1e-6 and p[3] - p[1] > 1e-6]


def _plan(v: _Volume, cutters: Sequence[_Volume]) -> list[_Rect]:
    """A volume's slab outline minus the plan of ``cutters`` (slab edges sit inside walls)."""
    inset = WALL_M / 2
    pieces: list[_Rect] = [(v.x0 + inset, v.y0 + inset, v.x1 - inset, v.y1 - inset)]
    for o in cutters:
        cut = (o.x0 + inset, o.y0 + inset, o.x1 - inset, o.y1 - inset)
        pieces = [p for piece in pieces for p in _rect_minus(piece, cut)]
    return pieces


def _structure(boxes: _Boxes, v: _Volume) -> None:
    """Floor slabs, the roof slab and the column grid of one volume."""
    for level in v.levels:
        s = STOREYS[level - 1]
        z_floor = GROUND_SLAB_TOP_M if level == 1 else s.z_min
        earlier = [o for o in _VOLUMES[: _VOLUMES.index(v)] if level in o.levels]
        for x0, y0, x1, y1 in _plan(v, earlier):
            boxes.add(x0, y0, 0.0 if level == 1 else s.z_min - SLAB_M, x1, y1, z_floor)
            for cx in np.arange(7.0, WIDTH_M, 7.0):  # frame columns, clear of the walls
                for cy in np.arange(7.0, DEPTH_M, 7.0):
                    if x0 + 1.0 < cx < x1 - 1.0 and y0 + 1.0 < cy < y1 - 1.0:
                        boxes.add(cx - 0.25, cy - 0.25, z_floor, cx + 0.25, cy + 0.25, s.z_max)
    top = STOREYS[v.levels[-1] - 1]
    above = [o for o in _VOLUMES if o is not v and top.level + 1 in o.levels]
    for x0, y0, x1, y1 in _plan(v, above):
        boxes.add(x0, y0, top.z_max - SLAB_M, x1, y1, top.z_max)


def _level_runs(side: str, v: _Volume) -> Iterator[tuple[tuple[float, float], list[int]]]:
    """Wall segments with the consecutive storeys over which they stay the same."""
    runs: dict[tuple[float, float], list[int]] = {}
    for level in v.levels:
        current = set(_wall_segments(side, v, level))
        for seg in list(runs):
            if seg not in current or runs[seg][-1] != level - 1:
                yield seg, runs.pop(seg)
        for seg in current:
            runs.setdefault(seg, []).append(level)
    yield from runs.items()


def _crown(boxes: _Boxes) -> trimesh.Trimesh:
    """The tower's three stepped, ribbed tiers, their cap and the flagpole."""
    z = STOREYS[-1].z_max
    for inset, height in ((0.8, 3.0), (2.0, 2.5), (3.5, 2.0), (5.0, 1.0)):
        x0, y0 = _TOWER.x0 + inset, _TOWER.y0 + inset
        x1, y1 = _TOWER.x1 - inset, _TOWER.y1 - inset
        z_rib = z + height - 0.3
        boxes.add(x0, y0, z, x1, y1, z + height)
        boxes.add(x0 - 0.3, y0 - 0.3, z_rib, x1 + 0.3, y1 + 0.3, z + height)
        for x in np.arange(x0 + 0.5, x1 - 0.3, 0.8):  # vertical ribs on all four faces
            boxes.add(x, y0 - 0.25, z, x + 0.2, y0, z_rib)
            boxes.add(x, y1, z, x + 0.2, y1 + 0.25, z_rib)
        for y in np.arange(y0 + 0.5, y1 - 0.3, 0.8):
            boxes.add(x0 - 0.25, y, z, x0, y + 0.2, z_rib)
            boxes.add(x1, y, z, x1 + 0.25, y + 0.2, z_rib)
        z += height
    pole = trimesh.creation.cylinder(radius=0.12, height=8.0, sections=24)
    pole.apply_translation([(_TOWER.x0 + _TOWER.x1) / 2, (_TOWER.y0 + _TOWER.y1) / 2, z + 4.0])
    return pole


@functools.lru_cache(maxsize=1)
def _cached_mesh() -> trimesh.Trimesh:
    boxes = _Boxes()
    for v in _VOLUMES:
        _structure(boxes, v)
        for side in ("south", "west", "north", "east"):
            for seg, levels in _level_runs(side, v):
                _facade(boxes, side, v, seg, levels)
    pole = _crown(boxes)
    # Plans are laid out on the bay grid from (0, 0); the final shift puts the
    # street faces on the building line.
    verts, faces = boxes.mesh_arrays()
    faces = np.vstack([faces, pole.faces + len(verts)])
    verts = np.vstack([verts, pole.vertices]) + np.array([BUILDING_LINE_M, BUILDING_LINE_M, 0.0])
    mesh = trimesh.Trimesh(vertices=verts, faces=faces, process=True)
    mesh.vertices.flags.writeable = False
    mesh.faces.flags.writeable = False
    return mesh


def build_nanjing_mesh() -> trimesh.Trimesh:
    """The procedural Nanjing Building, ~100k triangles; a fresh copy on every call."""
    return _cached_mesh().copy()


def nanjing_building(sensors: Sequence[Sensor]) -> Building:
    """The registry entry for the Nanjing Building carrying ``sensors``."""
    lo, hi = _cached_mesh().bounds
    return Building(
        id=NANJING_BUILDING_ID,
        name="Nanjing Building",
        address="Nanjing Road East, Huangpu District, Shanghai",
        structure_type="reinforced-concrete frame, brick infill",
        # GB 3096 class 2 (commercial): Nanjing Road East is a pedestrian street
        # here, so the class 4a strip along trunk roads does not apply.
        noise_zone=2,
        bounds=(
            (float(lo[0]), float(lo[1]), float(lo[2])),
            (float(hi[0]), float(hi[1]), float(hi[2])),
        ),
        model="procedural:nanjing",
        sensors=tuple(sensors),
    )


def load_nanjing() -> tuple[trimesh.Trimesh, Building]:
    """The mesh and the Building with the packaged sensor layout snapped onto it."""
    mesh = build_nanjing_mesh()
    specs = load_layout(nanjing_layout_path())
    sensors = place_sensors(specs, mesh, storey_at=storey_at)
    return mesh, nanjing_building(sensors)
