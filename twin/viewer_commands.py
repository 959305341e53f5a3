"""What `twin view`, `twin snapshot --api` and `twin bench viewer` do, kept out of the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.types import Reading
from twin.api_client import TwinApi
from viewer.state import Frame


class ApiDesktopSource:
    """The desktop viewer's source: one building of a twin, polled through its API."""

    def __init__(self, api: TwinApi, building_id: str) -> None:
        self.api, self.building_id = api, building_id

    def frame(self, metric: str) -> Frame:
        return self.api.frame(self.building_id, metric)

    def readings(self, channel_id: str, start: float, end: float) -> list[Reading]:
        return self.api.readings(channel_id, start, end)


def open_desktop_viewer(
    url: str,
    building_id: str | None,
    *,
    refresh_s: float,
    token: str | None = None,
    frames: int | None = None,
    screenshot: Path | None = None,
) -> None:
    from viewer.desktop import DesktopViewer

    api = TwinApi(url, token=token)
    building = api.building(building_id)
    viewer = DesktopViewer(api.mesh(building.id), building, ApiDesktopSource(api, building.id))
    viewer.run(refresh_s=refresh_s, frames=frames, screenshot=screenshot)


def api_snapshot(
    url: str,
    output: Path,
    metric: str,
    *,
    highlight: str | None,
    at: str | None,
    building_id: str | None,
    token: str | None = None,
) -> str:
    """Fetch the twin's snapshot PNG into ``output``; returns a line saying what was written."""
    api = TwinApi(url, token=token, timeout_s=120)
    building = api.building(building_id)
    query = {"metric": metric}
    if highlight is not None:
        query["highlight"] = highlight
    if at is not None:
        query["at"] = at
    output.write_bytes(api.snapshot(building.id, query))
    return f"Wrote {output} ({building.id}, {metric}, {at or 'now'})"


def bench_viewer(*, frames: int, progress: Callable[[str], Any]) -> dict[str, Any]:
    """The figures of `twin bench viewer`, medians."""
    from models.nanjing import load_nanjing
    from viewer.bench import colour_update_ms, facade_grid, scene_fps

    progress("colour update: building 1M-vertex weights...")
    update_ms = colour_update_ms()
    progress("Nanjing Building frames...")
    mesh, building = load_nanjing()
    fps_nanjing = scene_fps(mesh, building.sensors, frames=frames)
    progress("1M-triangle facade frames...")
    grid, sensors = facade_grid(1_000_000)
    fps_1m = scene_fps(grid, sensors, frames=max(5, frames // 3))
    return {
        "color_update_ms_1m": round(update_ms, 3),
        "fps_nanjing": round(fps_nanjing, 2),
        "fps_1m_tris": round(fps_1m, 2),
        "window": "1280x720, offscreen, multisampling off",
        "nanjing_triangles": len(mesh.faces),
        "grid_triangles": len(grid.faces),
    }
