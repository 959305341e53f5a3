import io
from collections.abc import Iterator

import matplotlib
import numpy as np
import pytest
import trimesh
from PIL import Image

from models.types import Channel, Sensor, SensorKind
from viewer.camera import camera_for
from viewer.scales import HIGHLIGHT_RGB, MARKER_NO_DATA_RGB, NO_DATA_RGB, scale_for
from viewer.snapshot import SnapshotRenderer, render_snapshot

SIZE = (640, 360)
# A 30 x 20 x 15 m block on the street corner at the origin; facades y=0 and x=0 face the camera.
VALUES = {"th-front": 5.0, "th-front-2": 35.0, "th-side": 20.0}
TOLERANCE = 10  # 8-bit RGB; lookup-table binning and marker shading stay well inside this


def climate(sensor_id: str, position: tuple[float, float, float], normal: tuple) -> Sensor:
    return Sensor(
        sensor_id,
        SensorKind.CLIMATE,
        "climate-1",
        0,
        "street",
        position,
        normal,
        (Channel(sensor_id, "t", "Cel"), Channel(sensor_id, "rh", "%RH")),
    )


SENSORS = [
    climate("th-front", (6.0, 0.0, 5.0), (0.0, -1.0, 0.0)),
    climate("th-front-2", (24.0, 0.0, 8.0), (0.0, -1.0, 0.0)),
    climate("th-side", (0.0, 10.0, 6.0), (-1.0, 0.0, 0.0)),
    climate("th-silent", (0.0, 4.0, 12.0), (-1.0, 0.0, 0.0)),
]


def building() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(30.0, 20.0, 15.0))
    box.apply_translation((15.0, 10.0, 7.5))
    return box.subdivide_to_size(0.5)


def scale_rgb(metric: str, value: float) -> np.ndarray:
    """Independent oracle: matplotlib's colour for value on the metric's fixed scale."""
    scale = scale_for(metric)
    cmap = matplotlib.colormaps[scale.cmap].resampled(256)
    return np.array(cmap((value - scale.vmin) / (scale.vmax - scale.vmin))[:3]) * 255


def pixel(img: np.ndarray, renderer: SnapshotRenderer, point: np.ndarray) -> np.ndarray:
    col, row = renderer.project(point)[0]
    assert 0 <= col < 0.85 * SIZE[0] and 0 <= row < SIZE[1]  # inside, left of the scalar bar
    return img[int(row), int(col)].astype(float)


def assert_rgb(actual: np.ndarray, expected: np.ndarray | tuple) -> None:
    diff = np.abs(actual - np.asarray(expected, dtype=float)).max()
    assert diff <= TOLERANCE, f"pixel {actual} vs expected {np.asarray(expected)}"


def nearest_vertex(mesh: trimesh.Trimesh, point: tuple[float, float, float]) -> int:
    return int(np.argmin(np.linalg.norm(mesh.vertices - np.array(point), axis=1)))


@pytest.fixture(scope="module")
def mesh() -> trimesh.Trimesh:
    return building()


@pytest.fixture(scope="module")
def renderer(mesh: trimesh.Trimesh) -> Iterator[SnapshotRenderer]:
    with SnapshotRenderer(mesh, SENSORS, window_size=SIZE) as r:
        yield r


@pytest.mark.render
def test_marker_shows_its_sensor_value_on_the_scale(renderer: SnapshotRenderer) -> None:
    img = renderer.image(VALUES, "t")
    centres = renderer.marker_centres()
    for i, sensor in enumerate(SENSORS[:3]):
        assert_rgb(pixel(img, renderer, centres[i]), scale_rgb("t", VALUES[sensor.id]))
    # The oracle must tell these apart, or the checks above prove nothing.
    assert np.abs(scale_rgb("t", 5.0) - scale_rgb("t", 35.0)).max() > 100


@pytest.mark.render
def test_marker_without_value_is_dark_grey(renderer: SnapshotRenderer) -> None:
    img = renderer.image(VALUES, "t")
    centre = renderer.marker_centres()[3]
    assert_rgb(pixel(img, renderer, centre), np.array(MARKER_NO_DATA_RGB) * 255)


@pytest.mark.render
def test_building_is_coloured_by_the_interpolated_field(
    renderer: SnapshotRenderer, mesh: trimesh.Trimesh
) -> None:
    img = renderer.image(VALUES, "t")
    field = renderer.interpolator.field([VALUES.get(s.id, np.nan) for s in SENSORS])
    # Beside a marker, and between the two front sensors where the field is a blend.
    for point in [(8.5, 0.0, 4.0), (4.0, 0.0, 3.0), (15.0, 0.0, 6.5), (0.0, 13.0, 4.0)]:
        v = nearest_vertex(mesh, point)
        assert np.isfinite(field[v])
        assert_rgb(pixel(img, renderer, mesh.vertices[v]), scale_rgb("t", float(field[v])))
    blend = field[nearest_vertex(mesh, (15.0, 0.0, 6.5))]
    assert 8.0 < blend < 32.0  # really a mix of 5 and 35 °C, not one sensor's colour


@pytest.mark.render
def test_region_far_from_sensors_is_neutral_grey(
    renderer: SnapshotRenderer, mesh: trimesh.Trimesh
) -> None:
    img = renderer.image(VALUES, "t")
    far_corner = mesh.vertices[nearest_vertex(mesh, (15.0, 18.0, 15.0))]  # roof, 14+ m away
    assert np.isnan(
        renderer.interpolator.field([1.0, 1.0, 1.0, 1.0])[nearest_vertex(mesh, far_corner)]
    )
    assert_rgb(pixel(img, renderer, far_corner), np.array(NO_DATA_RGB) * 255)


@pytest.mark.render
def test_sensor_without_data_leaves_its_region_grey(
    renderer: SnapshotRenderer, mesh: trimesh.Trimesh
) -> None:
    img = renderer.image({"th-side": 20.0}, "t")
    front = mesh.vertices[nearest_vertex(mesh, (22.0, 0.0, 6.0))]  # near th-front-2 only
    assert_rgb(pixel(img, renderer, front), np.array(NO_DATA_RGB) * 255)


@pytest.mark.render
def test_frames_update_in_place(renderer: SnapshotRenderer) -> None:
    centre = renderer.marker_centres()[0]
    first = pixel(renderer.image(VALUES, "t"), renderer, centre)
    second = pixel(renderer.image({**VALUES, "th-front": 38.0}, "t"), renderer, centre)
    assert_rgb(first, scale_rgb("t", 5.0))
    assert_rgb(second, scale_rgb("t", 38.0))


@pytest.mark.render
def test_switching_metric_switches_scale(renderer: SnapshotRenderer) -> None:
    rh = {"th-front": 90.0, "th-front-2": 30.0, "th-side": 60.0}
    img = renderer.image(rh, "rh")
    centres = renderer.marker_centres()
    for i, sensor in enumerate(SENSORS[:3]):
        assert_rgb(pixel(img, renderer, centres[i]), scale_rgb("rh", rh[sensor.id]))


@pytest.mark.render
def test_highlighted_sensor_is_ringed(renderer: SnapshotRenderer) -> None:
    ring = renderer.ring_point("th-front")
    plain = pixel(renderer.image(VALUES, "t"), renderer, ring)
    ringed = pixel(renderer.image(VALUES, "t", highlight="th-front"), renderer, ring)
    assert_rgb(ringed, np.array(HIGHLIGHT_RGB) * 255)
    assert np.abs(plain - np.array(HIGHLIGHT_RGB) * 255).max() > 100
    bigger = renderer.marker_centres("th-front")[0]
    assert_rgb(
        pixel(renderer.image(VALUES, "t", highlight="th-front"), renderer, bigger),
        scale_rgb("t", 5.0),
    )


@pytest.mark.render
def test_renderer_and_camera_project_alike(
    renderer: SnapshotRenderer, mesh: trimesh.Trimesh
) -> None:
    renderer.image(VALUES, "t")
    points = np.vstack([mesh.vertices[::997], renderer.marker_centres()])
    np.testing.assert_allclose(
        renderer.project(points), renderer.camera.project(points, SIZE), atol=0.5
    )


def test_camera_views_both_street_facades_from_the_corner() -> None:
    bounds = ((0.0, 0.0, 0.0), (30.0, 20.0, 15.0))
    camera = camera_for(bounds)
    eye = np.array(camera.position) - np.array(camera.focal_point)
    assert eye[0] < 0 and eye[1] < 0 and eye[2] > 0
    np.testing.assert_allclose(camera.project([camera.focal_point], SIZE), [[320, 180]])
    corners = np.array(np.meshgrid(*zip(*bounds, strict=True))).reshape(3, -1).T
    px = camera.project(corners, SIZE)
    assert (px >= 0).all() and (px[:, 0] < SIZE[0]).all() and (px[:, 1] < SIZE[1]).all()
    assert camera_for(bounds) == camera  # reproducible


@pytest.mark.render
def test_render_snapshot_returns_png_of_requested_size(mesh: trimesh.Trimesh) -> None:
    png = render_snapshot(
        mesh,
        SENSORS,
        VALUES,
        "t",
        highlight="th-side",
        window_size=SIZE,
        title="Nanjing Building: temperature",
    )
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.size == SIZE and image.mode == "RGB"
    assert png == render_snapshot(
        mesh,
        SENSORS,
        VALUES,
        "t",
        highlight="th-side",
        window_size=SIZE,
        title="Nanjing Building: temperature",
    )


@pytest.mark.render
def test_building_without_sensors_renders_all_grey(mesh: trimesh.Trimesh) -> None:
    with SnapshotRenderer(mesh, [], window_size=SIZE) as renderer:
        img = renderer.image({}, "ppv")
        centre = camera_for(mesh.bounds).focal_point  # the box centre: mid-image
        corner = mesh.vertices[nearest_vertex(mesh, (8.0, 0.0, 8.0))]
        assert_rgb(pixel(img, renderer, corner), np.array(NO_DATA_RGB) * 255)
        assert renderer.project(centre)[0] == pytest.approx((SIZE[0] / 2, SIZE[1] / 2), abs=0.5)


@pytest.mark.render
def test_unknown_metric_or_sensor_is_refused(renderer: SnapshotRenderer) -> None:
    with pytest.raises(KeyError, match="known"):
        renderer.image(VALUES, "co2")
    with pytest.raises(KeyError, match="not in this layout"):
        renderer.image(VALUES, "t", highlight="nope")
