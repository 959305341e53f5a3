"""A small SVG line chart of a sensor's channels, for the picked-sensor panel (no JS needed)."""

from __future__ import annotations

import html
import time as _time
from collections.abc import Sequence

import numpy as np

from models.types import Reading

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def channel_chart_svg(
    series: Sequence[tuple[str, str, Sequence[Reading]]],
    start: float,
    end: float,
    *,
    width: int = 320,
    height: int = 90,
) -> str:
    """One small panel per ``(label, unit, readings)`` over ``[start, end]``, stacked."""
    if end <= start:
        raise ValueError("a chart needs end after start")
    panels = []
    for i, (label, unit, readings) in enumerate(series):
        y0 = i * (height + 8)
        panels.append(_panel(label, unit, readings, start, end, width, height, y0, i))
    total = max(len(series), 1) * (height + 8)
    if not series:
        panels.append('<text x="4" y="20" font-size="12">no channels</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total}" '
        f'viewBox="0 0 {width} {total}" font-family="sans-serif">{"".join(panels)}</svg>'
    )


def _panel(
    label: str,
    unit: str,
    readings: Sequence[Reading],
    start: float,
    end: float,
    width: int,
    height: int,
    y0: int,
    index: int,
) -> str:
    colour = _COLOURS[index % len(_COLOURS)]
    head = html.escape(f"{label} [{unit}]")
    frame = (
        f'<rect x="0" y="{y0}" width="{width}" height="{height}" fill="#fafafa" '
        f'stroke="#ccc"/><text x="4" y="{y0 + 12}" font-size="11">{head}</text>'
    )
    points = [(r.time, r.value) for r in readings if start <= r.time <= end]
    if not points:
        return frame + f'<text x="4" y="{y0 + height / 2 + 4}" font-size="11">no data</text>'
    t = np.array([p[0] for p in points])
    v = np.array([p[1] for p in points])
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo or max(abs(hi), 1.0) * 0.1  # a flat line sits in the middle
    top, bottom = y0 + 16, y0 + height - 14
    xs = (t - start) / (end - start) * (width - 8) + 4
    ys = bottom - (v - (lo if hi > lo else lo - span / 2)) / span * (bottom - top)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    axis = (
        f'<text x="{width - 4}" y="{y0 + 12}" font-size="10" text-anchor="end">'
        f"{hi:.4g} max</text>"
        f'<text x="{width - 4}" y="{y0 + height - 3}" font-size="10" text-anchor="end">'
        f"{lo:.4g} min</text>"
        f'<text x="4" y="{y0 + height - 3}" font-size="10">'
        f"{_stamp(start)} to {_stamp(end)} UTC</text>"
    )
    line = f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'
    return frame + line + axis


def _stamp(t: float) -> str:
    return _time.strftime("%m-%d %H:%M", _time.gmtime(t))
