"""The viewer's HTTP side against a seeded twin: frames, snapshots, district page, /viewer."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest
import trimesh
from PIL import Image

from viewer.scales import HIGHLIGHT_RGB

pytestmark = pytest.mark.render
BUILDING = "nanjing-building"


def auth(twin: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {twin.token}"}


def get(twin: Any, path: str, **params: str) -> httpx.Response:
    response = httpx.get(f"{twin.api}{path}", params=params, headers=auth(twin), timeout=60)
    response.raise_for_status()
    return response


def frame(twin: Any, **params: str) -> dict[str, Any]:
    return get(twin, f"/api/v1/buildings/{BUILDING}/frame", **params).json()


def by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in body["sensors"]}


def test_frame_now_shows_alarm_and_stale_sensor(seeded_twin: Any) -> None:
    data = seeded_twin.data
    now = by_id(frame(seeded_twin, metric="t"))
    assert now[data.ALERT_SENSOR]["state"] == "alarm"
    assert now[data.SILENT_SENSOR]["state"] == "stale"  # silent for an hour, 10-minute interval
    assert now[data.SILENT_SENSOR]["value"] is None  # stale data is grey, never last-known
    assert now["th-3f-in"]["value"] == pytest.approx(data.T_END_C, abs=0.5)
    # The alarm colours its whole zone in health mode, and no other.
    health = by_id(frame(seeded_twin, metric="health"))
    zone = now[data.ALERT_SENSOR]["zone"]
    assert {s["zone_health"] for s in health.values() if s["zone"] == zone} == {2.0}
    assert {s["zone_health"] for s in health.values() if s["zone"] != zone} == {0.0}


def test_frame_at_a_past_moment(seeded_twin: Any) -> None:
    data = seeded_twin.data
    at = seeded_twin.started_at - 1.5 * 3600  # half an hour into the seeded two hours
    past = frame(seeded_twin, metric="t", at=str(at))
    sensors = by_id(past)
    assert sensors["th-3f-in"]["value"] == pytest.approx(data.value_at("t", 0.25), abs=1.0)
    assert sensors[data.ALERT_SENSOR]["state"] == "ok"  # the alarm opened later
    assert sensors[data.SILENT_SENSOR]["state"] == "ok"  # it still reported then
    assert past["alerts"] == []


def test_snapshot_at_a_moment_differs_from_now_and_rings_the_sensor(seeded_twin: Any) -> None:
    def image(**params: str) -> np.ndarray:
        png = get(seeded_twin, f"/api/v1/buildings/{BUILDING}/snapshot.png", **params)
        return np.asarray(Image.open(io.BytesIO(png.content)).convert("RGB")).astype(int)

    def warmth(img: np.ndarray) -> float:
        coloured = (img.max(axis=2) - img.min(axis=2)) > 40
        return float((img[..., 0] - img[..., 2])[coloured].mean())

    now = image(metric="t")
    past = image(metric="t", at=str(seeded_twin.started_at - 1.9 * 3600))
    # coolwarm: 30 °C now reads red, 10 °C near the start of the history reads blue.
    assert warmth(now) > 30
    assert warmth(past) < -30
    ringed = image(metric="t", highlight=seeded_twin.data.ALERT_SENSOR)
    magenta = np.all(np.abs(ringed - np.array(HIGHLIGHT_RGB) * 255) < 40, axis=2)
    assert magenta.sum() > 50
    assert not np.all(np.abs(now - np.array(HIGHLIGHT_RGB) * 255) < 40, axis=2).any()


def test_district_page_lists_building_with_worst_state(seeded_twin: Any) -> None:
    page = get(seeded_twin, "/viewer/district").text
    assert f'data-building="{BUILDING}" data-worst="alarm"' in page
    assert "/viewer?building=nanjing-building" in page


def test_viewer_redirects_to_the_trame_app(seeded_twin: Any) -> None:
    response = httpx.get(f"{seeded_twin.api}/viewer", headers=auth(seeded_twin), timeout=30)
    assert response.status_code == 307
    port = httpx.URL(seeded_twin.viewer).port
    assert response.headers["location"] == f"http://127.0.0.1:{port}/"
    page = httpx.get(
        response.headers["location"], headers=auth(seeded_twin), timeout=30, follow_redirects=True
    )
    assert "<html" in page.text.lower()
    unknown = httpx.get(
        f"{seeded_twin.api}/viewer", params={"building": "nope"}, headers=auth(seeded_twin)
    )
    assert unknown.status_code == 404
    # The district page's links choose the building, then land on the same app.
    chosen = httpx.get(
        f"{seeded_twin.api}/viewer", params={"building": BUILDING}, headers=auth(seeded_twin)
    )
    assert chosen.status_code == 307 and chosen.headers["location"] == response.headers["location"]


def test_a_browser_signs_in_once_with_the_token_in_the_address(seeded_twin: Any) -> None:
    trame = seeded_twin.viewer
    # Without a token neither the page nor the trame app it leads to opens.
    assert httpx.get(f"{seeded_twin.api}/viewer", timeout=30).status_code == 401
    assert httpx.get(trame, timeout=30, follow_redirects=True).status_code == 401
    assert httpx.get(f"{trame}ws", timeout=30).status_code == 401  # the app's websocket
    with httpx.Client(timeout=30) as browser:
        landing = browser.get(
            f"{seeded_twin.api}/viewer", params={"token": seeded_twin.token, "building": BUILDING}
        )
        assert landing.status_code == 200
        cookie = landing.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        # The page reloads itself without the token in the address bar (or any Referer).
        assert f"url=/viewer?building={BUILDING}" in landing.text
        assert landing.headers["referrer-policy"] == "no-referrer"
        assert seeded_twin.token not in landing.text
        viewer = browser.get(f"{seeded_twin.api}/viewer", params={"building": BUILDING})
        assert viewer.status_code == 307
        # A cookie goes to every port of its host: the trame app opens with it.
        page = browser.get(viewer.headers["location"], follow_redirects=True)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert browser.get(f"{seeded_twin.api}/viewer/district").status_code == 200
    bad = httpx.get(f"{seeded_twin.api}/viewer", params={"token": "twin_nope_nope"}, timeout=30)
    assert bad.status_code == 401 and "set-cookie" not in bad.headers


def test_mesh_download_matches_the_model(seeded_twin: Any) -> None:
    from models.nanjing import build_nanjing_mesh

    ply = get(seeded_twin, f"/api/v1/buildings/{BUILDING}/mesh.ply").content
    mesh = trimesh.load(io.BytesIO(ply), file_type="ply", process=False)
    assert len(mesh.faces) == len(build_nanjing_mesh().faces)


def test_twin_snapshot_command_renders_a_past_moment(seeded_twin: Any, tmp_path: Any) -> None:
    import subprocess
    import sys

    out = tmp_path / "past.png"
    at = str(seeded_twin.started_at - 1.9 * 3600)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "twin",
            "snapshot",
            str(out),
            "--api",
            seeded_twin.api,
            "--metric",
            "t",
            "--at",
            at,
            "--highlight",
            seeded_twin.data.ALERT_SENSOR,
            "--token",
            seeded_twin.token,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    coloured = (img.max(axis=2) - img.min(axis=2)) > 40
    assert float((img[..., 0] - img[..., 2])[coloured].mean()) < -30  # 10 °C: blue
