"""The picked sensor's SVG chart."""

from __future__ import annotations

import re

import pytest

from models.types import Reading
from viewer.chart import channel_chart_svg


def test_one_panel_per_channel_with_points_inside_the_window() -> None:
    laeq = [Reading("n/laeq", t, 40.0 + t / 100) for t in range(0, 3600, 60)]
    svg = channel_chart_svg([("laeq", "dB", laeq), ("lmax", "dB", [])], 0.0, 3600.0)
    polylines = re.findall(r'points="([^"]+)"', svg)
    assert len(polylines) == 1  # lmax has no data: a "no data" panel, no line
    assert "no data" in svg
    xs = [float(p.split(",")[0]) for p in polylines[0].split()]
    assert len(xs) == len(laeq) and xs == sorted(xs)
    assert "75.4 max" in svg and "40 min" in svg


def test_readings_outside_the_window_are_left_out_and_text_is_escaped() -> None:
    readings = [Reading("s/x", t, 1.0) for t in (-10.0, 5.0, 50.0)]
    svg = channel_chart_svg([("<x>", "mrad", readings)], 0.0, 10.0)
    assert len(re.findall(r'points="([^"]+)"', svg)[0].split()) == 1
    assert "&lt;x&gt;" in svg


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="end after start"):
        channel_chart_svg([], 10.0, 10.0)
