"""The web viewer: a trame app drawing the building scene in the browser (vtk.js).

Rendering happens in each browser (client-side), so a wall of screens costs the server one
scene serialisation per update, not one render per screen. The trame state is shared by
every connected browser: the ops centre's screens show the same building, metric and moment.
The UI layout lives in :mod:`viewer.web_ui`; data comes through a :class:`ViewerSource`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time as _time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from models.types import Alert, Building, Reading
from viewer.replay import Replay
from viewer.state import HEALTH, Frame, SensorState

if TYPE_CHECKING:
    import trimesh

    from viewer.scene import BuildingScene

log = logging.getLogger(__name__)

SPEEDS = (60, 600, 3600)  # replay seconds per wall-clock second
# Long replays come as hourly rollups (the source's choice): 90 days is about 2k points
# per channel in memory.
MAX_REPLAY_HOURS = 90 * 24.0
_TICK_S = 0.5


# Asked with each HTTP request's headers (page, assets and the websocket alike): None lets it
# through, a string is the reason it is refused (401). The composition root checks access.
Gate = Callable[[Mapping[str, str]], Awaitable[str | None]]


class ViewerSource(Protocol):
    """What the web viewer reads; the composition root implements it over the store."""

    async def buildings(self) -> list[Building]: ...

    async def mesh(self, building: Building) -> trimesh.Trimesh: ...

    async def live_frame(self, building: Building, metric: str) -> Frame: ...

    async def replay(self, building: Building, start: float, end: float) -> Replay: ...

    async def readings(self, channel_id: str, start: float, end: float) -> list[Reading]: ...

    def now(self) -> float: ...


class WebViewer:
    """One trame server with one building scene, refreshed live or replaying the past."""

    def __init__(
        self, source: ViewerSource, *, refresh_s: float = 2.0, gate: Gate | None = None
    ) -> None:
        from trame.app import get_server

        self.source = source
        self.refresh_s = refresh_s
        self.gate = gate
        # A private server name: tests and a twin in the same process must not share state.
        self.server: Any = get_server(f"twin-viewer-{id(self)}", client_type="vue3")
        self.state: Any = self.server.state
        self.url = ""
        self.buildings: dict[str, Building] = {}
        self._building: Building | None = None
        self._scene: BuildingScene | None = None
        self.view: Any = None
        self.pl: Any = None
        self._replay: Replay | None = None
        self._frame: Frame | None = None
        self._last_refresh = 0.0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._actions: set[asyncio.Future[None]] = set()

    async def start(self, host: str, port: int) -> str:
        """Serve on ``host:port`` (0 picks a free port) in the running event loop."""
        import pyvista as pv

        from viewer.scene import plotter_theme
        from viewer.web_ui import build_ui

        self.pl = pv.Plotter(off_screen=True, window_size=[1280, 720], theme=plotter_theme())
        self.buildings = {b.id: b for b in await self.source.buildings()}
        build_ui(self)
        # trame reads sys.argv by default; the twin's own options are not trame's.
        argv = ["--server", "--timeout", "0", "--host", host, "--port", str(port)]
        options = self.server.cli.parse_args(argv)
        self.server.cli.parse_known_args = lambda *_a, **_k: (options, [])
        if self.gate is not None:
            self.server.controller.on_server_bind.add(self._guard)
        self.server.start(
            exec_mode="task", thread=True, show_connection_info=False, open_browser=False
        )
        await self.server.ready
        self.url = f"http://{host}:{self.server.port}/"
        if self.buildings:
            await self.select_building(next(iter(self.buildings)))
        self._task = asyncio.create_task(self._run(), name="web-viewer")
        return self.url

    def _guard(self, wslink_server: Any) -> None:
        """Put the gate in front of every route of trame's aiohttp app (before it starts)."""
        from aiohttp import web

        gate = self.gate
        assert gate is not None

        @web.middleware
        async def gated(request: web.Request, handler: Any) -> web.StreamResponse:
            refusal = await gate(request.headers)
            if refusal is not None:
                return web.json_response({"detail": refusal}, status=401)
            response: web.StreamResponse = await handler(request)
            return response

        wslink_server.app.middlewares.append(gated)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.server.stop()
        if self.pl is not None:
            self.pl.close()

    @property
    def building(self) -> Building | None:
        """The building on screen."""
        return self._building

    @property
    def replaying(self) -> bool:
        """Whether a past period is loaded for the time machine."""
        return self._replay is not None

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run an action from a UI callback, keeping a reference until it is done."""
        task = asyncio.ensure_future(coroutine)
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)

    # -- actions (bound to the UI in viewer.web_ui) ----------------------------------------

    async def select_building(self, building_id: str) -> None:
        """Show ``building_id``: a new scene (the only time actors are built), then live."""
        from viewer.camera import camera_for
        from viewer.hidden import hidden_faces
        from viewer.scene import BuildingScene

        if building_id not in self.buildings:
            self.buildings = {b.id: b for b in await self.source.buildings()}
        building = self.buildings[building_id]
        mesh = await self.source.mesh(building)
        # The scene leaves out hidden faces, seconds of numpy on a new model: found in a
        # thread (it is cached by content), so other browsers' updates keep flowing meanwhile.
        await asyncio.to_thread(hidden_faces, mesh.vertices, mesh.faces)
        async with self._lock:
            self.pl.clear()
            self._building = building
            self._scene = BuildingScene(self.pl, mesh, building.sensors, scalar_bar=False)
            c = camera_for(mesh.bounds, aspect=16 / 9)
            self.pl.camera_position = [c.position, c.focal_point, c.view_up]
            self.pl.camera.view_angle = c.view_angle_deg
            self._replay = None
        with self.state:
            self.state.building_id = building_id
            self.state.building_name = building.name
            self.state.sensors = [{"title": s.id, "value": s.id} for s in building.sensors]
            self.state.selected_sensor = None
            self.state.mode = "live"
            self.state.playing = False
        await self.refresh()
        if self.view is not None:
            self.view.push_camera()
            self.view.reset_camera()

    async def refresh(self) -> None:
        """Show the live state, or the replay at the slider's moment."""
        if self._building is None:
            return
        if self.state.mode == "live":
            frame = await self.source.live_frame(self._building, self.state.metric)
            self._last_refresh = _time.monotonic()
        else:
            if self._replay is None:
                await self.load_replay()
            assert self._replay is not None
            frame = self._replay.frame(float(self.state.t), self.state.metric)
        self._show(frame)

    async def load_replay(self) -> None:
        """Fetch the last ``replay_hours`` once; the slider then replays from memory."""
        if self._building is None:
            return
        end = self.source.now()
        hours = min(max(float(self.state.replay_hours or 0), 0.1), MAX_REPLAY_HOURS)
        start = end - hours * 3600
        self._replay = await self.source.replay(self._building, start, end)
        with self.state:
            self.state.alert_starts = [
                {
                    "title": f"{_time.strftime('%m-%d %H:%M', _time.gmtime(t))} "
                    f"{a.severity.value} {a.sensor_id} ({a.rule_id})",
                    "value": a.id,
                }
                for t, a in self._replay.alert_starts()
            ]
            self.state.t_min, self.state.t_max = start, end
            self.state.t = min(max(float(self.state.t or start), start), end)

    async def jump_to_alert(self, alert_id: str) -> None:
        """Replay from the moment ``alert_id`` opened, its sensor ringed."""
        alert = next(
            (a for a in (self._frame.alerts if self._frame else ()) if a.id == alert_id), None
        )
        if alert is None and self._replay is not None:
            alert = next((a for a in self._replay.alerts if a.id == alert_id), None)
        if alert is None:
            return
        if self._replay is None or not self._replay.start <= alert.opened_at <= self._replay.end:
            self.state.replay_hours = min(
                max(
                    float(self.state.replay_hours),
                    (self.source.now() - alert.opened_at) / 3600 + 0.5,
                ),
                MAX_REPLAY_HOURS,
            )
            await self.load_replay()
        with self.state:
            self.state.mode = "replay"
            self.state.playing = False
            self.state.t = alert.opened_at
            self.state.selected_sensor = alert.sensor_id
        await self.refresh()

    async def pick(self, ray: list[list[float]] | None) -> None:
        """A click on the model (vtk.js's view ray): select the sensor under it, if any."""
        if self._scene is None or not ray or len(ray) != 2:
            return
        # The ray, not vtk.js's picked world position: that comes from a depth read-back
        # that is off by metres in software WebGL.
        sensor_id = self._scene.sensor_on_ray(ray[0], ray[1], 3 * self._scene.marker_radius_m)
        if sensor_id is not None:
            with self.state:
                self.state.selected_sensor = sensor_id
            await self.show_sensor()

    async def show_sensor(self) -> None:
        """Fill the sensor panel: id, zone, latest values, a chart of the 24 h before."""
        from viewer.chart import channel_chart_svg

        sensor_id = self.state.selected_sensor
        sensor = (
            next((s for s in self._building.sensors if s.id == sensor_id), None)
            if (self._building)
            else None
        )
        if sensor is None or self._frame is None:
            with self.state:
                self.state.sensor_info = None
            return
        end = self._frame.time
        series = [
            (ch.metric, ch.unit, await self.source.readings(ch.id, end - 86_400, end + 1e-6))
            for ch in sensor.channels
        ]
        latest = [f"{m} {rs[-1].value:.4g} {u}" if rs else f"{m} no data" for m, u, rs in series]
        with self.state:
            self.state.sensor_info = {
                "id": sensor.id,
                "zone": sensor.zone,
                "floor": sensor.floor,
                "kind": sensor.kind.value,
                "state": self._frame.states.get(sensor.id, SensorState.OFFLINE).value,
                "latest": latest,
            }
            self.state.chart_svg = channel_chart_svg(series, end - 86_400, end)
        self._show(self._frame)

    # -- internals ---------------------------------------------------------------------------

    def _show(self, frame: Frame) -> None:
        from viewer.scene import metric_title

        if self._scene is None:
            return
        self._frame = frame
        self._scene.show(frame, highlight=self.state.selected_sensor)
        if self.view is not None:
            self.view.update()
        counts: dict[str, int] = {}
        for s in frame.states.values():
            counts[s.value] = counts.get(s.value, 0) + 1
        with self.state:
            self.state.frame_time = _time.strftime(
                "%Y-%m-%d %H:%M:%S UTC", _time.gmtime(frame.time)
            )
            self.state.legend_title = metric_title(frame.metric)
            self.state.legend = legend(frame.metric)
            self.state.state_counts = counts
            self.state.alerts = [_alert_row(a) for a in frame.alerts]
            self.state.coloured_sensors = len(frame.colour_values())

    def refresh_soon(self) -> None:
        """Refresh at the next tick rather than at the next ``refresh_s``: an alert opened or
        acknowledged shows on the wall within half a second."""
        self._last_refresh = float("-inf")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(_TICK_S)
            try:
                await self._tick()
            except Exception:  # a bad tick must not stop the live view
                log.exception("web viewer update failed")

    async def _tick(self) -> None:
        if self.state.mode == "live":
            if _time.monotonic() - self._last_refresh >= self.refresh_s:
                await self.refresh()
        elif self.state.playing and self._replay is not None:
            t = float(self.state.t) + float(self.state.speed) * _TICK_S
            with self.state:
                if t >= self._replay.end:
                    t, self.state.playing = self._replay.end, False
                self.state.t = t
            # The state change handler for ``t`` shows the frame.


def metric_items(metrics: list[str]) -> list[dict[str, str]]:
    """The metric switcher's entries, zone health last."""
    from viewer.scene import metric_title

    return [{"title": metric_title(m), "value": m} for m in [*metrics, HEALTH]]


def legend(metric: str) -> dict[str, Any]:
    """The HTML legend of ``metric``: a CSS gradient (or blocks for health) and its labels."""
    import matplotlib

    from viewer.scales import NO_DATA_RGB, scale_for
    from viewer.scene import HEALTH_COLOURS, HEALTH_LABELS

    grey = _hex(NO_DATA_RGB)
    if metric == HEALTH:
        stops = ", ".join(
            f"{c} {i * 100 / 3:.0f}%, {c} {(i + 1) * 100 / 3:.0f}%"
            for i, c in enumerate(HEALTH_COLOURS)
        )
        return {"gradient": stops, "labels": list(HEALTH_LABELS), "no_data": grey}
    scale = scale_for(metric)
    cmap = matplotlib.colormaps[scale.cmap]
    stops = ", ".join(f"{_hex(cmap(i / 10))} {i * 10}%" for i in range(11))
    labels = [f"{scale.vmin + (scale.vmax - scale.vmin) * i / 4:.4g}" for i in range(5)]
    return {"gradient": stops, "labels": labels, "no_data": grey}


def _hex(rgb: Any) -> str:
    r, g, b = (round(float(c) * 255) for c in tuple(rgb)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "sensor_id": alert.sensor_id,
        "severity": alert.severity.value,
        # The alert as it stands now: a replayed alert may since have been resolved.
        "state": (
            f"resolved {_time.strftime('%m-%d %H:%M', _time.gmtime(alert.resolved_at))} UTC"
            if alert.resolved_at is not None
            else alert.state.value
        ),
        "rule_id": alert.rule_id,
        "message": alert.message,
        "opened": _time.strftime("%H:%M:%S", _time.gmtime(alert.opened_at)),
        "value": f"{alert.worst_value:.4g} / limit {alert.limit:.4g}",
        "standard": alert.standard,
        "colour": {"alarm": "red", "warning": "orange"}.get(alert.severity.value, "grey"),
    }
