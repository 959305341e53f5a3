"""`twin bench viewer` prints the figures the issue asks for (a smoke run, not a timing test)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from viewer.bench import colour_update_ms, facade_grid

pytestmark = pytest.mark.render


def test_facade_grid_has_the_asked_triangle_count() -> None:
    grid, sensors = facade_grid(20_000)
    assert 20_000 <= len(grid.faces) < 21_000
    assert len(sensors) == 50


def test_colour_update_is_measured() -> None:
    assert colour_update_ms(n_vertices=20_000, n_sensors=50, repeats=3) > 0


def test_bench_viewer_json_has_the_figures() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twin", "bench", "viewer", "--frames", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    for key in ("color_update_ms_1m", "fps_nanjing", "fps_1m_tris"):
        assert figures[key] > 0, key
    assert figures["grid_triangles"] >= 1_000_000
