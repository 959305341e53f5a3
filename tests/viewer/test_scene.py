"""The live scene, rendered offscreen: marker colours by state, the field, zone health, and
frames that only write arrays (no actor is ever rebuilt)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import matplotlib
import numpy as np
import pytest
import trimesh

from models.types import Alert, AlertState, Channel, Sensor, SensorKind, Severity
from viewer.camera import camera_for
from viewer.scales import NO_DATA_RGB, scale_for
from viewer.scene import HEALTH_COLOURS, BuildingScene, plotter_theme
from viewer.state import HEALTH, STATE_RGB, SensorState, build_frame

pytestmark = pytest.mark.render
SIZE = (640, 360)
TOLERANCE = 10
NOW = 10_000.0


def climate(sensor_id: str, zone: str, position: tuple, normal: tuple) -> Sensor:
    return Sensor(
        sensor_id,
        SensorKind.CLIMATE,
        "dev",
        1,
        zone,
        position,
        normal,
        (Channel(sensor_id, "t", "Cel"),),
        expected_interval_s=60.0,
    )


# A 30 x 20 x 15 m block; the two front sensors are 18 m apart, beyond the 12 m radius of
# each other, so a facade point near one takes exactly that sensor's value.
SENSORS = [
    climate("front-ok", "south", (6.0, 0.0, 5.0), (0.0, -1.0, 0.0)),
    climate("front-alarm", "south-east", (24.0, 0.0, 8.0), (0.0, -1.0, 0.0)),
    climate("side-stale", "west", (0.0, 10.0, 6.0), (-1.0, 0.0, 0.0)),
]
ALARM = Alert(
    "a1",
    "b",
    "front-alarm",
    "front-alarm/t",
    "rule",
    AlertState.OPEN,
    Severity.ALARM,
    NOW - 100,
    NOW - 100,
    38.0,
    38.0,
    35.0,
    "std",
    "hot",
)


def frame(metric: str = "t") -> Any:
    return build_frame(
        SENSORS,
        metric,
        NOW,
        metric_readings={
            "front-ok": (NOW - 10, 8.0),
            "front-alarm": (NOW - 10, 36.0),
            "side-stale": (NOW - 400, 20.0),
        },
        last_seen={"front-ok": NOW - 10, "front-alarm": NOW - 10, "side-stale": NOW - 400},
        alerts=[ALARM],
    )


@pytest.fixture(scope="module")
def mesh() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(30.0, 20.0, 15.0))
    box.apply_translation((15.0, 10.0, 7.5))
    return box.subdivide_to_size(0.5)


@pytest.fixture(scope="module")
def scene(mesh: trimesh.Trimesh) -> Iterator[BuildingScene]:
    import pyvista as pv

    pl = pv.Plotter(off_screen=True, window_size=list(SIZE), theme=plotter_theme())
    s = BuildingScene(pl, mesh, SENSORS, scalar_bar=False)
    c = camera_for(mesh.bounds, aspect=SIZE[0] / SIZE[1])
    pl.camera_position = [c.position, c.focal_point, c.view_up]
    pl.camera.view_angle = c.view_angle_deg
    pl.show(auto_close=False)
    yield s
    pl.close()


def render(scene: BuildingScene, f: Any) -> np.ndarray:
    scene.show(f)
    scene.pl.render()
    return np.asarray(scene.pl.screenshot(return_img=True))[..., :3].astype(float)


def pixel(scene: BuildingScene, img: np.ndarray, point: Any) -> np.ndarray:
    renderer = scene.pl.renderer
    renderer.SetWorldPoint(*point, 1.0)
    renderer.WorldToDisplay()
    x, y, _ = renderer.GetDisplayPoint()
    col, row = int(x), int(SIZE[1] - y)
    assert 0 <= col < SIZE[0] and 0 <= row < SIZE[1]
    return img[row, col]


def assert_rgb(actual: np.ndarray, expected: Any) -> None:
    diff = np.abs(actual - np.asarray(expected, dtype=float)).max()
    assert diff <= TOLERANCE, f"pixel {actual} vs expected {np.asarray(expected)}"


def scale_rgb(metric: str, value: float) -> np.ndarray:
    scale = scale_for(metric)
    cmap = matplotlib.colormaps[scale.cmap].resampled(256)
    return np.array(cmap((value - scale.vmin) / (scale.vmax - scale.vmin))[:3]) * 255


def marker_centre(scene: BuildingScene, sensor_id: str, scale: float = 1.0) -> np.ndarray:
    i = scene.sensor_ids.index(sensor_id)
    normal = np.asarray(SENSORS[i].normal)
    return scene.positions[i] + normal * scene.marker_radius_m * scale


def state_under(scene: BuildingScene, img: np.ndarray, point: np.ndarray) -> SensorState:
    """The state whose marker colour is nearest the pixel, after the shading's brightness is
    divided out (the plotter's light kit darkens a marker by up to a fifth)."""
    rgb = pixel(scene, img, point) / 255
    scale = max(rgb.max(), 1e-6)
    distances = {
        state: np.abs(rgb / scale - np.array(c) / max(max(c), 1e-6)).max()
        for state, c in STATE_RGB.items()
        if state is not SensorState.OFFLINE
    }
    best = min(distances, key=distances.__getitem__)
    assert distances[best] < 0.1, f"pixel {rgb * 255} is no marker colour"
    return best


def test_markers_are_coloured_by_sensor_state(scene: BuildingScene) -> None:
    img = render(scene, frame())
    assert state_under(scene, img, marker_centre(scene, "front-ok")) is SensorState.OK
    # The alarm's marker is enlarged (1.8x) so it stands out: its centre sits further out.
    alarm = marker_centre(scene, "front-alarm", 1.8)
    assert state_under(scene, img, alarm) is SensorState.ALARM
    stale = marker_centre(scene, "side-stale")
    assert state_under(scene, img, stale) is SensorState.STALE
    # Grey could be the no-data facade behind: the same marker turns green once it reports.
    fresh = build_frame(
        SENSORS, "t", NOW, metric_readings={}, last_seen={"side-stale": NOW - 5}, alerts=[]
    )
    assert state_under(scene, render(scene, fresh), stale) is SensorState.OK


def test_field_matches_the_scale_and_stale_sensors_show_grey(scene: BuildingScene) -> None:
    img = render(scene, frame())
    assert_rgb(pixel(scene, img, (9.5, 0.0, 5.0)), scale_rgb("t", 8.0))
    assert_rgb(pixel(scene, img, (20.5, 0.0, 8.0)), scale_rgb("t", 36.0))
    # The side sensor's last reading is 400 s old (stale): its surroundings are no-data grey.
    assert_rgb(pixel(scene, img, (0.0, 13.5, 6.0)), np.array(NO_DATA_RGB) * 255)
    assert np.abs(scale_rgb("t", 8.0) - scale_rgb("t", 36.0)).max() > 100


def test_health_mode_colours_each_zone_by_its_worst_alert(scene: BuildingScene) -> None:
    img = render(scene, frame(HEALTH))
    green, red = (np.array(matplotlib.colors.to_rgb(c)) * 255 for c in HEALTH_COLOURS[::2])
    assert_rgb(pixel(scene, img, (20.5, 0.0, 8.0)), red)  # zone of the alarm
    assert_rgb(pixel(scene, img, (9.5, 0.0, 5.0)), green)  # a quiet zone beside it


def test_frames_write_arrays_in_place_and_never_add_actors(scene: BuildingScene) -> None:
    render(scene, frame())
    actors = set(scene.pl.renderer.actors)
    array = scene.building.GetPointData().GetArray("field")
    for metric in ("t", HEALTH, "t"):
        render(scene, frame(metric))
    assert set(scene.pl.renderer.actors) == actors
    assert scene.building.GetPointData().GetArray("field") is array


def test_a_pick_finds_the_sensor_under_the_click(scene: BuildingScene) -> None:
    assert scene.nearest_sensor((6.0, -0.3, 5.2), 1.0) == "front-ok"
    assert scene.nearest_sensor((15.0, -0.3, 5.0), 1.0) is None


def test_a_view_ray_picks_the_nearest_marker_it_passes(scene: BuildingScene) -> None:
    # From in front of the facade straight through front-ok, and on through the building.
    assert scene.sensor_on_ray((6.0, -30.0, 5.2), (6.0, 30.0, 5.2), 1.0) == "front-ok"
    assert scene.sensor_on_ray((15.0, -30.0, 5.0), (15.0, 30.0, 5.0), 1.0) is None
    # Along the side facade (x = 0): passes side-stale, the nearer hit wins over none.
    assert scene.sensor_on_ray((0.2, 40.0, 6.0), (0.2, -40.0, 6.0), 1.0) == "side-stale"
