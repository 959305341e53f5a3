"""The desktop live viewer: a PyVista window on a running twin, refreshed on a timer.

A metric switcher (slider widget, or keys ``m``/``n``), the open alerts beside the model, and
a click on a sensor shows its id, zone, latest values and a chart of the last 24 h.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from models.types import Building, Reading
from viewer.scales import SCALES
from viewer.state import HEALTH, Frame, SensorState

if TYPE_CHECKING:
    import trimesh

log = logging.getLogger(__name__)

DAY_S = 86_400.0


class DesktopSource(Protocol):
    """What the desktop viewer polls; ``twin view`` implements it over the HTTP API."""

    def frame(self, metric: str) -> Frame: ...

    def readings(self, channel_id: str, start: float, end: float) -> list[Reading]: ...


class DesktopViewer:
    """One window, one building scene; :meth:`run` blocks until the window closes."""

    def __init__(
        self,
        mesh: trimesh.Trimesh,
        building: Building,
        source: DesktopSource,
        *,
        metrics: Sequence[str] = (*SCALES, HEALTH),
        window_size: tuple[int, int] = (1280, 720),
        off_screen: bool = False,
    ) -> None:
        import pyvista as pv

        from viewer.camera import camera_for
        from viewer.scene import BuildingScene, metric_title, plotter_theme

        self.building, self.source, self.metrics = building, source, list(metrics)
        self.metric = self.metrics[0]
        self.selected: str | None = None
        self.frame: Frame | None = None
        pl: Any = pv.Plotter(
            window_size=list(window_size), off_screen=off_screen, theme=plotter_theme()
        )
        self.pl = pl
        self.scene = BuildingScene(self.pl, mesh, building.sensors)
        c = camera_for(mesh.bounds, aspect=0.75 * window_size[0] / window_size[1])
        self.pl.camera_position = [c.position, c.focal_point, c.view_up]
        self.pl.camera.view_angle = c.view_angle_deg
        self._title = self.pl.add_text(" ", position="upper_left", font_size=12, color="black")
        self._alerts = self.pl.add_text(" ", position="lower_right", font_size=9, color="black")
        self._sensor = self.pl.add_text(" ", position="lower_left", font_size=9, color="black")
        self._titles = {metric_title(m): m for m in self.metrics}
        pl.add_text_slider_widget(
            self._on_metric_title,
            list(self._titles),
            value=0,
            pointa=(0.3, 0.93),
            pointb=(0.7, 0.93),
            color="#444444",
        )
        pl.add_key_event("m", lambda: self.switch_metric(+1))
        pl.add_key_event("n", lambda: self.switch_metric(-1))
        pl.enable_point_picking(
            self._on_pick, show_message=False, show_point=False, left_clicking=True
        )
        self._chart: Any = None

    def refresh(self) -> None:
        """Poll the twin and write the new frame into the scene."""
        try:
            self.frame = self.source.frame(self.metric)
        except OSError as exc:  # the twin restarting must not close the window
            self._title.SetText(2, f"{self.building.name}: twin unreachable ({exc})")
            return
        self.scene.show(self.frame, highlight=self.selected)
        moment = _time.strftime("%Y-%m-%d %H:%M:%S UTC", _time.gmtime(self.frame.time))
        self._title.SetText(2, f"{self.building.name} · {moment}")
        lines = [
            f"{a.severity.value.upper()} {a.sensor_id}: {a.message[:48]}"
            for a in self.frame.alerts[:12]
        ]
        header = f"Open alerts: {len(self.frame.alerts)}"
        self._alerts.SetText(1, "\n".join([header, *lines]))  # 1: lower right corner

    def switch_metric(self, step: int) -> None:
        self.metric = self.metrics[(self.metrics.index(self.metric) + step) % len(self.metrics)]
        self.refresh()
        self.pl.render()

    def select(self, sensor_id: str | None) -> None:
        """Show a sensor's id, zone, latest values and 24 h chart (None clears)."""
        self.selected = sensor_id
        sensor = next((s for s in self.building.sensors if s.id == sensor_id), None)
        if sensor is None:
            self._sensor.SetText(0, " ")
            self._show_chart([])
            return
        end = self.frame.time if self.frame else _time.time()
        series = [
            (ch.metric, ch.unit, self.source.readings(ch.id, end - DAY_S, end + 1e-6))
            for ch in sensor.channels
        ]
        state = self.frame.states.get(sensor.id, SensorState.OFFLINE) if self.frame else None
        latest = [f"{m} {rs[-1].value:.4g} {u}" if rs else f"{m} no data" for m, u, rs in series]
        head = f"{sensor.id} ({sensor.kind.value}), floor {sensor.floor}, zone {sensor.zone}"
        self._sensor.SetText(0, "\n".join([head, f"state {state}", *latest]))
        self._show_chart(series)
        if self.frame is not None:
            self.scene.show(self.frame, highlight=sensor_id)

    def run(
        self, *, refresh_s: float = 2.0, frames: int | None = None, screenshot: Path | None = None
    ) -> None:
        """Show the window; refresh every ``refresh_s``. With ``frames``, stop after that many
        refreshes (writing ``screenshot`` first), e.g. for a check under Xvfb."""
        self.refresh()
        done = {"n": 0}

        def tick(_step: int) -> None:
            self.refresh()
            self.pl.render()
            done["n"] += 1
            if frames is not None and done["n"] >= frames:
                if screenshot is not None:
                    self.pl.screenshot(str(screenshot))
                self.pl.iren.terminate_app()

        max_steps = frames if frames is not None else 10**9
        self.pl.add_timer_event(max_steps, int(refresh_s * 1000), tick)
        self.pl.show(auto_close=False)
        self.pl.close()
        if frames is not None and done["n"] < frames:
            # VTK swallows exceptions raised in timer callbacks: say that the run fell short.
            raise RuntimeError(f"the window closed after {done['n']} of {frames} refreshes")

    def _on_metric_title(self, title: str) -> None:
        metric = self._titles.get(title)
        if metric is not None and metric != self.metric:
            self.metric = metric
            self.refresh()

    def _on_pick(self, point: Any) -> None:
        if point is None:
            return
        self.select(self.scene.nearest_sensor(point, 4 * self.scene.marker_radius_m))

    def _show_chart(self, series: list[tuple[str, str, list[Reading]]]) -> None:
        import numpy as np
        import pyvista as pv

        if self._chart is not None:
            self.pl.remove_chart(self._chart)
            self._chart = None
        if not series or not any(rs for _, _, rs in series):
            return
        # One chart for the sensor's first channel with data: a small panel, not a dashboard.
        metric, unit, readings = next((m, u, rs) for m, u, rs in series if rs)
        t = np.array([r.time for r in readings])
        chart = pv.Chart2D(size=(0.32, 0.25), loc=(0.01, 0.2), x_label="hours", y_label=unit)
        chart.line((t - t[-1]) / 3600, [r.value for r in readings], color="tab:blue")
        chart.title = f"{metric}, last 24 h"
        self.pl.add_chart(chart)
        self._chart = chart
