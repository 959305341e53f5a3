"""Offscreen PNG snapshots of a building coloured by one metric, with its sensors marked.

VTK is not thread-safe: callers must serialise all rendering (hold one lock around every
:class:`SnapshotRenderer` call and :func:`render_snapshot`). PyVista loads only here.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from models.types import Sensor
from viewer.camera import Camera, camera_for
from viewer.colouring import FieldInterpolator
from viewer.scales import HIGHLIGHT_RGB, MARKER_NO_DATA_RGB, NO_DATA_RGB, scale_for

if TYPE_CHECKING:
    import trimesh

_FIELD = "field"
_VALUE = "value"
_HIGHLIGHT_SCALE = 1.4  # highlighted marker radius, relative to the others
# Highlight ring inner/outer radius, in marker radii: wide enough that the enlarged marker,
# standing out from the facade, does not hide it from the oblique camera.
_RING_RADII = (3.5, 4.5)


class SnapshotRenderer:
    """One offscreen plotter over one mesh and sensor layout; frames update arrays in place.

    Use as a context manager, or call :meth:`close`. Not thread-safe (see module docstring).
    """

    def __init__(
        self,
        mesh: trimesh.Trimesh,
        sensors: Sequence[Sensor],
        *,
        window_size: tuple[int, int] = (1280, 720),
        k: int = 4,
        radius_m: float = 12.0,
        marker_radius_m: float | None = None,
    ) -> None:
        import pyvista as pv

        self.window_size = window_size
        self.sensor_ids = [s.id for s in sensors]
        # Leave the right-hand fifth of the image to the scalar bar.
        width, height = window_size
        self.camera: Camera = camera_for(mesh.bounds, aspect=0.8 * width / height)
        vertices = np.asarray(mesh.vertices, dtype=np.float64)
        positions = np.array([s.position for s in sensors], dtype=np.float64).reshape(-1, 3)
        normals = _unit_normals(np.array([s.normal for s in sensors], dtype=np.float64))
        self.interpolator = FieldInterpolator(vertices, positions, k=k, radius_m=radius_m)
        diagonal = float(np.linalg.norm(np.ptp(mesh.bounds, axis=0)))
        self.marker_radius_m = marker_radius_m or 0.012 * diagonal
        self._positions, self._normals = positions, normals

        self._pl = pv.Plotter(
            off_screen=True, window_size=list(window_size), lighting="none", theme=_theme()
        )
        self._pl.add_light(pv.Light(light_type="headlight"))
        self._building = pv.PolyData.from_regular_faces(vertices, np.asarray(mesh.faces))
        self._building.point_data[_FIELD] = np.full(len(vertices), np.nan, dtype=np.float32)
        # Unlit, so a colour on the building reads straight off the scalar bar.
        self._building_actor = self._pl.add_mesh(
            self._building,
            scalars=_FIELD,
            clim=(0.0, 1.0),
            lighting=False,
            nan_color=NO_DATA_RGB,
            show_scalar_bar=False,
            reset_camera=False,
        )
        edges = self._building.extract_feature_edges(
            30.0, boundary_edges=False, non_manifold_edges=False, manifold_edges=False
        )
        if edges.n_cells:  # corners and roof lines give the unlit building its shape
            self._pl.add_mesh(
                edges, color=(0.15, 0.15, 0.15), line_width=1, lighting=False, reset_camera=False
            )
        self._markers, self._marker_template = _marker_mesh(len(sensors))
        self._marker_sensor = np.repeat(np.arange(len(sensors)), self._marker_template.shape[0])
        self._markers.points = self._marker_points(None)
        self._markers.point_data[_VALUE] = np.full(self._markers.n_points, np.nan, np.float32)
        # Headlit with ambient + diffuse = 1: the marker's centre shows its exact scale colour
        # and its rim darkens, so it stays visible on a field of the same colour.
        self._marker_actor = self._pl.add_mesh(
            self._markers,
            scalars=_VALUE,
            clim=(0.0, 1.0),
            ambient=0.4,
            diffuse=0.6,
            specular=0.0,
            nan_color=MARKER_NO_DATA_RGB,
            show_scalar_bar=False,
            reset_camera=False,
        )
        self._ring = pv.Disc(inner=_RING_RADII[0], outer=_RING_RADII[1], c_res=48)
        self._ring_template = np.array(self._ring.points)
        self._ring_actor = self._pl.add_mesh(
            self._ring, color=HIGHLIGHT_RGB, lighting=False, reset_camera=False
        )
        self._scalar_bar = self._pl.add_scalar_bar(  # type: ignore[call-arg]  # decorator hides self
            title=" ",
            mapper=self._building_actor.mapper,
            vertical=True,
            position_x=0.88,
            position_y=0.1,
            width=0.08,
            height=0.8,
            n_labels=5,
            fmt="%.4g",
            color="black",
            nan_annotation=True,
        )
        self._scalar_bar.SetNanAnnotation("no data")
        self._title = self._pl.add_text(" ", position="upper_left", font_size=14, color="black")
        c = self.camera
        self._pl.camera_position = [c.position, c.focal_point, c.view_up]
        self._pl.camera.view_angle = c.view_angle_deg
        self._pl.show(auto_close=False)  # offscreen render() is a no-op until show() ran once

    def image(
        self,
        values: Mapping[str, float],
        metric: str,
        *,
        highlight: str | None = None,
        title: str | None = None,
    ) -> npt.NDArray[np.uint8]:
        """Render one frame; ``values`` maps sensor id to this metric's value. RGB, (h, w, 3)."""
        scale = scale_for(metric)
        if highlight is not None and highlight not in self.sensor_ids:
            raise KeyError(f"highlighted sensor {highlight!r} is not in this layout")
        sensor_values = np.array(
            [values.get(sid, math.nan) for sid in self.sensor_ids], dtype=np.float64
        )
        sensor_values[~np.isfinite(sensor_values)] = np.nan
        for actor in (self._building_actor, self._marker_actor):
            lut: Any = actor.mapper.lookup_table
            lut.cmap = scale.cmap
            actor.mapper.scalar_range = (scale.vmin, scale.vmax)
        self._scalar_bar.SetTitle(scale.title)
        self._title.SetText(2, title or "")  # 2: upper left corner
        self._building.point_data[_FIELD][:] = self.interpolator.field(sensor_values)
        self._markers.point_data[_VALUE][:] = sensor_values[self._marker_sensor]
        index = None if highlight is None else self.sensor_ids.index(highlight)
        self._markers.points = self._marker_points(index)
        self._place_ring(index)
        self._pl.render()
        return np.asarray(self._pl.screenshot(return_img=True), dtype=np.uint8)[..., :3]

    def png(self, values: Mapping[str, float], metric: str, **kwargs: Any) -> bytes:
        """Like :meth:`image`, encoded as PNG."""
        return _png(self.image(values, metric, **kwargs))

    def project(self, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Image ``(column, row)`` of world points, as VTK's renderer maps them (row 0 on top)."""
        renderer = self._pl.renderer
        out = []
        for p in np.asarray(points, dtype=np.float64).reshape(-1, 3):
            renderer.SetWorldPoint(*p, 1.0)
            renderer.WorldToDisplay()
            x, y, _ = renderer.GetDisplayPoint()
            out.append((x, self.window_size[1] - y))
        return np.array(out, dtype=np.float64).reshape(-1, 2)

    def marker_centres(self, highlight: str | None = None) -> npt.NDArray[np.float64]:
        """World positions of the marker centres, one row per sensor."""
        radius = self._marker_radii(None if highlight is None else self.sensor_ids.index(highlight))
        return self._positions + self._normals * radius[:, None]

    def ring_point(self, sensor_id: str) -> npt.NDArray[np.float64]:
        """A world point on the middle of ``sensor_id``'s highlight ring."""
        i = self.sensor_ids.index(sensor_id)
        u, _ = _tangents(self._normals[i])
        r = self.marker_radius_m * sum(_RING_RADII) / 2
        return self._ring_origin(i) - u * r

    def close(self) -> None:
        self._pl.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _marker_radii(self, highlight: int | None) -> npt.NDArray[np.float64]:
        radius = np.full(len(self.sensor_ids), self.marker_radius_m)
        if highlight is not None:
            radius[highlight] *= _HIGHLIGHT_SCALE
        return radius

    def _marker_points(self, highlight: int | None) -> npt.NDArray[np.float64]:
        # Markers sit on the surface, centred one radius out along the sensor's normal.
        radius = self._marker_radii(highlight)
        centres = self._positions + self._normals * radius[:, None]
        template = self._marker_template[None, :, :] * radius[:, None, None]
        return (centres[:, None, :] + template).reshape(-1, 3)

    def _ring_origin(self, i: int) -> npt.NDArray[np.float64]:
        # Just off the facade, so the ring never fights the surface for depth.
        return self._positions[i] + self._normals[i] * 0.3 * self.marker_radius_m

    def _place_ring(self, highlight: int | None) -> None:
        self._ring_actor.SetVisibility(highlight is not None)
        if highlight is None:
            return
        u, v = _tangents(self._normals[highlight])
        frame = np.stack([u, v, self._normals[highlight]])  # template x, y, z -> world
        points = self._ring_template * self.marker_radius_m @ frame
        self._ring.points = points + self._ring_origin(highlight)


def render_snapshot(
    mesh: trimesh.Trimesh,
    sensors: Sequence[Sensor],
    values: Mapping[str, float],
    metric: str,
    *,
    highlight: str | None = None,
    window_size: tuple[int, int] = (1280, 720),
    title: str | None = None,
) -> bytes:
    """PNG of ``mesh`` coloured by ``metric`` from ``values`` (sensor id -> value), one-off.

    Builds a fresh renderer; for repeated frames keep a :class:`SnapshotRenderer`.
    """
    with SnapshotRenderer(mesh, sensors, window_size=window_size) as renderer:
        return renderer.png(values, metric, highlight=highlight, title=title)


def _theme() -> Any:
    import pyvista as pv

    theme = pv.themes.DocumentTheme()
    theme.multi_samples = 1  # multisampling costs 3-4x on CPU renderers
    theme.anti_aliasing = None
    theme.background = "white"
    theme.font.color = "black"
    theme.allow_empty_mesh = True  # a building with no sensors yet still renders, all grey
    return theme


def _marker_mesh(
    n_sensors: int, *, resolution: tuple[int, int] = (16, 12)
) -> tuple[Any, npt.NDArray[np.float64]]:
    """One unit-sphere template repeated per sensor, in a single mesh (one actor);
    ``resolution`` is the sphere's (theta, phi) subdivision."""
    import pyvista as pv

    theta, phi = resolution
    sphere = pv.Sphere(radius=1.0, theta_resolution=theta, phi_resolution=phi)
    template = np.asarray(sphere.points, dtype=np.float64)
    faces = np.asarray(sphere.regular_faces, dtype=np.int64)
    offsets = np.arange(n_sensors)[:, None, None] * len(template)
    all_faces: Any = (faces[None, :, :] + offsets).reshape(-1, 3)
    points = np.zeros((n_sensors * len(template), 3))
    return pv.PolyData.from_regular_faces(points, all_faces), template


def _unit_normals(normals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    normals = normals.reshape(-1, 3)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    # A sensor without a usable normal gets "up": its marker then sits on top of the point.
    return np.where(length > 1e-9, normals / np.where(length > 0, length, 1), [0.0, 0.0, 1.0])


def _tangents(normal: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
    helper = np.array([0.0, 0.0, 1.0]) if abs(normal[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, normal)
    u /= np.linalg.norm(u)
    return u, np.cross(normal, u)


def _png(rgb: npt.NDArray[np.uint8]) -> bytes:
    from PIL import Image  # pillow ships with pyvista

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()
