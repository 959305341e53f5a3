"""The live building scene on any PyVista plotter: desktop window, trame web view, offscreen.

Built once per (mesh, sensor layout); :meth:`BuildingScene.show` then only writes arrays
in place (one sparse mat-vec for the field, a colour per marker), never adds an actor.
VTK is not thread-safe: one thread drives a scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from models.types import Sensor
from viewer.colouring import FieldInterpolator
from viewer.hidden import hidden_faces
from viewer.outline import is_closed_outward, outline_edges
from viewer.scales import HIGHLIGHT_RGB, NO_DATA_RGB, scale_for
from viewer.snapshot import _RING_RADII, _marker_mesh, _tangents, _unit_normals
from viewer.state import HEALTH, STATE_RGB, Frame, SensorState

if TYPE_CHECKING:
    import trimesh

_FIELD = "field"
_ZONE_HEALTH = "zone_health"
_STATE_RGB = "state_rgb"
# Zone health colours by severity rank: none, warning, alarm (the marker colours).
HEALTH_COLOURS = ("#2e9e40", "#ffa500", "#d90000")
HEALTH_LABELS = ("no alert", "warning", "alarm")
HEALTH_TITLE = "Zone health"  # short: the bar's labels name the ranks
# Alerting sensors' markers are this much larger, so they stand out at district zoom.
_ALERT_MARKER_SCALE = 1.8
# Marker sphere (theta, phi) subdivision: still round when zoomed in, with half the
# triangles of the snapshot's markers (168, not 320).
_MARKER_RESOLUTION = (12, 9)


def metric_title(metric: str) -> str:
    """Legend title with units, e.g. ``Temperature [°C]``."""
    return HEALTH_TITLE if metric == HEALTH else scale_for(metric).title


class BuildingScene:
    """The building coloured by one field, sensor markers coloured by state, one ring."""

    def __init__(
        self,
        pl: Any,
        mesh: trimesh.Trimesh,
        sensors: Sequence[Sensor],
        *,
        k: int = 4,
        radius_m: float = 12.0,
        scalar_bar: bool = True,
    ) -> None:
        import pyvista as pv

        self.pl = pl
        self.sensors = tuple(sensors)
        self.sensor_ids = [s.id for s in sensors]
        vertices = np.asarray(mesh.vertices, dtype=np.float64)
        self.positions = np.array([s.position for s in sensors], dtype=np.float64).reshape(-1, 3)
        self._normals = _unit_normals(np.array([s.normal for s in sensors], dtype=np.float64))
        self.interpolator = FieldInterpolator(vertices, self.positions, k=k, radius_m=radius_m)
        faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
        # A closed surface's back faces never show: skipping them saves a fifth of a frame.
        closed = is_closed_outward(vertices, faces)
        # Nor do faces buried in or lying against other parts (over a third of the Nanjing
        # Building's): they are left out, and all vertices kept for the field.
        drawn: Any = faces[~hidden_faces(vertices, faces)] if closed else faces
        # Health is per zone: each face takes its nearest sensor's zone. Faces, not vertices:
        # a vertex field would blend "no alert" and "alarm" through the warning colour.
        centres = vertices[drawn].mean(axis=1) if len(drawn) else np.zeros((0, 3))
        self.zone_interpolator = FieldInterpolator(centres, self.positions, k=1, radius_m=radius_m)
        diagonal = float(np.linalg.norm(np.ptp(mesh.bounds, axis=0)))
        self.marker_radius_m = 0.012 * diagonal
        self.metric: str | None = None

        self.building = pv.PolyData.from_regular_faces(vertices, drawn)
        self.building.point_data[_FIELD] = np.full(len(vertices), np.nan, dtype=np.float32)
        self.building.cell_data[_ZONE_HEALTH] = np.full(len(drawn), np.nan, dtype=np.float32)
        self.building_actor = pl.add_mesh(
            self.building,
            scalars=_FIELD,
            clim=(0.0, 1.0),
            lighting=False,  # unlit: a colour on the building reads straight off the legend
            nan_color=NO_DATA_RGB,
            show_scalar_bar=False,
            reset_camera=False,
            culling="back" if closed else None,
        )
        # Outlines from the whole surface: a hidden face's crease can still be a visible line.
        edges = outline_edges(pv.PolyData.from_regular_faces(vertices, np.asarray(mesh.faces)))
        if edges.n_cells:
            pl.add_mesh(edges, color=(0.15, 0.15, 0.15), lighting=False, reset_camera=False)
        self.markers, self._template = _marker_mesh(len(sensors), resolution=_MARKER_RESOLUTION)
        self._marker_sensor = np.repeat(np.arange(len(sensors)), len(self._template))
        self._alerting = np.zeros(len(sensors), dtype=bool)
        self.markers.points = self._marker_points(self._alerting)
        self.markers.point_data[_STATE_RGB] = np.zeros((self.markers.n_points, 3), np.uint8)
        self.marker_actor = pl.add_mesh(
            self.markers,
            scalars=_STATE_RGB,
            rgb=True,
            ambient=0.4,
            diffuse=0.6,
            specular=0.0,
            reset_camera=False,
        )
        self._ring = pv.Disc(inner=_RING_RADII[0], outer=_RING_RADII[1], c_res=48)
        self._ring_template = np.array(self._ring.points)
        self.ring_actor = pl.add_mesh(
            self._ring, color=HIGHLIGHT_RGB, lighting=False, reset_camera=False
        )
        self.ring_actor.SetVisibility(False)
        self.scalar_bar = None
        if scalar_bar:
            self.scalar_bar = pl.add_scalar_bar(
                title=" ",
                mapper=self.building_actor.mapper,
                vertical=True,
                position_x=0.88,
                position_y=0.1,
                width=0.08,
                height=0.8,
                n_labels=5,
                fmt="%.4g",
                color="black",
            )

    def show(self, frame: Frame, *, highlight: str | None = None) -> None:
        """Write ``frame`` into the scene's arrays; the caller renders (or pushes) it."""
        if frame.metric != self.metric:
            self._use_scale(frame.metric)
        values = frame.colour_values()
        sensor_values = np.array(
            [values.get(sid, np.nan) for sid in self.sensor_ids], dtype=np.float32
        )
        # field_into writes through numpy's out=, which VTK cannot see: flag the array.
        if frame.metric == HEALTH:
            self.zone_interpolator.field_into(sensor_values, self.building.cell_data[_ZONE_HEALTH])
            self.building.GetCellData().GetArray(_ZONE_HEALTH).Modified()
        else:
            self.interpolator.field_into(sensor_values, self.building.point_data[_FIELD])
            self.building.GetPointData().GetArray(_FIELD).Modified()
        states = [frame.states.get(sid, SensorState.OFFLINE) for sid in self.sensor_ids]
        rgb = np.array([STATE_RGB[s] for s in states], dtype=np.float64).reshape(-1, 3)
        marker_rgb = (rgb * 255).round().astype(np.uint8)[self._marker_sensor]
        # States rarely change between frames; an unchanged array need not go to the renderer.
        if not np.array_equal(marker_rgb, self.markers.point_data[_STATE_RGB]):
            self.markers.point_data[_STATE_RGB][:] = marker_rgb
        alerting = np.array([s in (SensorState.WARNING, SensorState.ALARM) for s in states])
        alerting = alerting.reshape(len(self.sensor_ids))
        if not np.array_equal(alerting, self._alerting):
            self._alerting = alerting
            self.markers.points = self._marker_points(alerting)
        self._place_ring(highlight)

    def nearest_sensor(self, point: npt.ArrayLike, max_distance_m: float) -> str | None:
        """The sensor nearest a picked world ``point``, if one is within ``max_distance_m``."""
        if not self.sensor_ids:
            return None
        d = np.linalg.norm(self.positions - np.asarray(point, dtype=np.float64), axis=1)
        i = int(np.argmin(d))
        return self.sensor_ids[i] if d[i] <= max_distance_m else None

    def sensor_on_ray(
        self, near: npt.ArrayLike, far: npt.ArrayLike, max_distance_m: float
    ) -> str | None:
        """The sensor whose marker a view ray (``near`` to ``far``) passes within
        ``max_distance_m`` of, the one nearest the eye when several do."""
        if not self.sensor_ids:
            return None
        a = np.asarray(near, dtype=np.float64)
        direction = np.asarray(far, dtype=np.float64) - a
        length = float(np.linalg.norm(direction))
        if length == 0:
            return None
        direction /= length
        along = (self.positions - a) @ direction
        off_ray = np.linalg.norm(self.positions - a - along[:, None] * direction, axis=1)
        hits = np.nonzero((off_ray <= max_distance_m) & (along >= 0) & (along <= length))[0]
        return None if len(hits) == 0 else self.sensor_ids[int(hits[np.argmin(along[hits])])]

    def _use_scale(self, metric: str) -> None:
        mapper: Any = self.building_actor.mapper
        lut: Any = mapper.lookup_table
        lut.ResetAnnotations()
        if metric == HEALTH:
            mapper.SetScalarModeToUseCellFieldData()
            mapper.SelectColorArray(_ZONE_HEALTH)
        else:
            mapper.SetScalarModeToUsePointFieldData()
            mapper.SelectColorArray(_FIELD)
        if metric == HEALTH:
            lut.apply_cmap(list(HEALTH_COLOURS), n_values=3)
            self.building_actor.mapper.scalar_range = (-0.5, 2.5)  # one bin per rank
            for rank, label in enumerate(HEALTH_LABELS):
                lut.SetAnnotation(float(rank), label)
        else:
            scale = scale_for(metric)
            lut.apply_cmap(scale.cmap, n_values=256)
            self.building_actor.mapper.scalar_range = (scale.vmin, scale.vmax)
        if self.scalar_bar is not None:
            self.scalar_bar.SetTitle(metric_title(metric))
            # Ranks are categories: the bar names them instead of numbering -0.5 to 2.5.
            self.scalar_bar.SetDrawTickLabels(metric != HEALTH)
        self.metric = metric

    def _marker_points(self, alerting: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        radius = np.where(alerting, _ALERT_MARKER_SCALE, 1.0) * self.marker_radius_m
        centres = self.positions + self._normals * radius[:, None]
        template = self._template[None, :, :] * radius[:, None, None]
        return (centres[:, None, :] + template).reshape(-1, 3)

    def _place_ring(self, highlight: str | None) -> None:
        index = self.sensor_ids.index(highlight) if highlight in self.sensor_ids else None
        self.ring_actor.SetVisibility(index is not None)
        if index is None:
            return
        u, v = _tangents(self._normals[index])
        frame = np.stack([u, v, self._normals[index]])
        origin = self.positions[index] + self._normals[index] * 0.3 * self.marker_radius_m
        self._ring.points = self._ring_template * self.marker_radius_m @ frame + origin


def plotter_theme() -> Any:
    """White background, multisampling off (it costs 3-4x on CPU renderers)."""
    from viewer.snapshot import _theme

    return _theme()
