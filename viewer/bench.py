"""Viewer benchmarks: colour update cost and offscreen frame rates (medians)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from models.types import Channel, Sensor, SensorKind
from viewer.state import Frame, SensorState

if TYPE_CHECKING:
    import trimesh


def median_ms(run: Callable[[int], Any], repeats: int) -> float:
    """Median wall time of ``run(i)`` over ``repeats`` calls, in milliseconds."""
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def colour_update_ms(n_vertices: int = 1_000_000, n_sensors: int = 500, repeats: int = 30) -> float:
    """Field computation plus the write into a VTK point array, for a new set of sensor values
    each frame (the data mask unchanged, as between live frames)."""
    import pyvista as pv

    from viewer.colouring import FieldInterpolator

    rng = np.random.default_rng(6)
    # A 100 x 60 x 40 m volume, sensors spread over it like a building's survey points.
    extent = np.array([100.0, 60.0, 40.0])
    vertices = rng.random((n_vertices, 3)) * extent
    sensors = rng.random((n_sensors, 3)) * extent
    interpolator = FieldInterpolator(vertices, sensors, k=4, radius_m=12.0)
    cloud = pv.PolyData(vertices)
    cloud.point_data["field"] = np.zeros(n_vertices, dtype=np.float32)
    values = rng.random((repeats + 1, n_sensors)).astype(np.float32) * 40
    interpolator.field_into(values[-1], cloud.point_data["field"])  # warm the mask cache
    vtk_array = cloud.GetPointData().GetArray("field")

    def update(i: int) -> None:
        interpolator.field_into(values[i], cloud.point_data["field"])
        vtk_array.Modified()

    return median_ms(update, repeats)


def scene_fps(
    mesh: trimesh.Trimesh,
    sensors: Sequence[Sensor],
    *,
    metric: str = "t",
    window_size: tuple[int, int] = (1280, 720),
    frames: int = 30,
) -> float:
    """Frames per second of the live scene offscreen: new values written, then rendered."""
    import pyvista as pv

    from viewer.camera import camera_for
    from viewer.scene import BuildingScene, plotter_theme

    pl: Any = pv.Plotter(off_screen=True, window_size=list(window_size), theme=plotter_theme())
    try:
        scene = BuildingScene(pl, mesh, sensors)
        c = camera_for(mesh.bounds, aspect=window_size[0] / window_size[1])
        pl.camera_position = [c.position, c.focal_point, c.view_up]
        pl.show(auto_close=False)  # offscreen render() is a no-op until show() ran once
        rng = np.random.default_rng(7)
        ids = [s.id for s in sensors]
        states = {sid: SensorState.OK for sid in ids}

        def draw(_: int) -> None:
            values = dict(zip(ids, rng.random(len(ids)) * 40, strict=True))
            scene.show(Frame(time.time(), metric, values, states))
            pl.render()

        draw(0)  # the first frame uploads the geometry
        return 1000.0 / median_ms(draw, frames)
    finally:
        pl.close()


def facade_grid(n_triangles: int) -> tuple[trimesh.Trimesh, list[Sensor]]:
    """A flat facade of about ``n_triangles`` triangles facing -y, with a 10 x 5 sensor grid."""
    import trimesh

    side = int(np.ceil(np.sqrt(n_triangles / 2))) + 1  # (side - 1)² quads, two triangles each
    width_m, height_m = 100.0, 50.0
    xs, zs = np.meshgrid(np.linspace(0, width_m, side), np.linspace(0, height_m, side))
    vertices = np.column_stack([xs.ravel(), np.zeros(xs.size), zs.ravel()])
    i = np.arange(side - 1)
    a = (i[:, None] * side + i[None, :]).ravel()
    quads = np.stack([a, a + 1, a + side + 1, a + side], axis=1)
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    grid = trimesh.Trimesh(vertices, faces, process=False)
    sensors = [
        Sensor(
            f"th-{x}-{z}",
            SensorKind.CLIMATE,
            "bench",
            z,
            "facade",
            (5.0 + 10 * x, 0.0, 5.0 + 10 * z),
            (0.0, -1.0, 0.0),
            (Channel(f"th-{x}-{z}", "t", "Cel"),),
        )
        for x in range(10)
        for z in range(5)
    ]
    return grid, sensors
