"""`twin view`: the desktop window on a running (seeded) twin, under Xvfb and offscreen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from twin.api_client import TwinApi
from twin.viewer_commands import ApiDesktopSource
from viewer.state import STATE_RGB, SensorState

pytestmark = pytest.mark.render
ALARM_RGB = np.array(STATE_RGB[SensorState.ALARM]) * 255


def warmth(img: np.ndarray) -> float:
    mask = (img.max(axis=2) - img.min(axis=2)) > 40
    return float((img[..., 0] - img[..., 2])[mask].mean())


def alarm_pixels(img: np.ndarray) -> int:
    return int(np.all(np.abs(img - ALARM_RGB) < 30, axis=2).sum())


def test_twin_view_window_under_xvfb(seeded_twin: Any, tmp_path: Path) -> None:
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        pytest.fail("Xvfb is not installed: run ./scripts/test, or apt-get install xvfb xauth")
    shot = tmp_path / "view.png"
    result = subprocess.run(
        [
            xvfb_run,
            "-a",
            "-s",
            "-screen 0 1600x900x24",
            sys.executable,
            "-m",
            "twin",
            "view",
            "--api",
            seeded_twin.api,
            "--frames",
            "2",
            "--refresh-s",
            "0.3",
            "--screenshot",
            str(shot),
            "--token",
            seeded_twin.token,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        # An offscreen window class (set for headless rendering) would give no real window.
        env={k: v for k, v in os.environ.items() if k != "VTK_DEFAULT_OPENGL_WINDOW"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape == (720, 1280, 3)
    assert warmth(img) > 30  # 30 °C on coolwarm, the live state
    assert alarm_pixels(img) > 30  # the noise alarm's marker, enlarged and red


def test_desktop_viewer_switches_metric_and_picks_a_sensor(seeded_twin: Any) -> None:
    from viewer.desktop import DesktopViewer

    api = TwinApi(seeded_twin.api, token=seeded_twin.token)
    building = api.building()
    viewer = DesktopViewer(
        api.mesh(building.id), building, ApiDesktopSource(api, building.id), off_screen=True
    )
    try:
        viewer.pl.show(auto_close=False)
        viewer.refresh()
        viewer.pl.render()
        warm = viewer.pl.screenshot(return_img=True)[..., :3].astype(int)
        assert viewer.frame is not None and len(viewer.frame.alerts) == 1
        viewer.switch_metric(+1)  # t -> rh: 50 %RH on YlGnBu, nothing like coolwarm red
        assert viewer.metric == "rh"
        humid = viewer.pl.screenshot(return_img=True)[..., :3].astype(int)
        assert warmth(warm) > 30 > warmth(humid)
        marker = viewer.scene.positions[viewer.scene.sensor_ids.index("noise-1f-south")]
        viewer._on_pick(marker + np.array([0.0, -0.2, 0.0]))  # a click on its marker
        assert viewer.selected == "noise-1f-south"
        text = viewer._sensor.GetText(0)
        assert "zone south-facade" in text and "laeq" in text and "alarm" in text
        assert viewer._chart is not None
    finally:
        viewer.pl.close()
