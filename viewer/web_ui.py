"""The web viewer's page: toolbar, the model, the alert list and the sensor panel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from viewer.scales import SCALES
from viewer.web import SPEEDS, metric_items

if TYPE_CHECKING:
    from viewer.web import WebViewer

_SEVERITY_CSS = """
.alert-alarm { border-left: 6px solid #d90000; }
.alert-warning { border-left: 6px solid #ffa500; }
.state-chip { display: inline-block; padding: 0 6px; border-radius: 8px; color: white;
  margin-right: 4px; font-size: 12px; }
"""
_STATE_COLOURS = {
    "ok": "#2e9e40",
    "warning": "#ffa500",
    "alarm": "#d90000",
    "stale": "#9e9e9e",
    "offline": "#1a1a1a",
}


def build_ui(viewer: WebViewer) -> None:
    """Lay out the page and bind its controls to ``viewer``'s actions."""
    from trame.ui.vuetify3 import SinglePageWithDrawerLayout
    from trame.widgets import html
    from trame.widgets import vtk as vtk_widgets
    from trame.widgets import vuetify3 as v3

    server, state = viewer.server, viewer.state
    state.update(
        {
            "building_id": None,
            "building_name": "",
            "buildings": [{"title": b.name, "value": b.id} for b in viewer.buildings.values()],
            "metric": "t",
            "metrics": metric_items(list(SCALES)),
            "mode": "live",
            "replay_hours": 24,
            "t": 0.0,
            "t_min": 0.0,
            "t_max": 1.0,
            "playing": False,
            "speed": SPEEDS[1],
            "speeds": [{"title": f"{s}x", "value": s} for s in SPEEDS],
            "alerts": [],
            "alert_starts": [],
            "jump_alert": None,
            "sensors": [],
            "selected_sensor": None,
            "sensor_info": None,
            "chart_svg": "",
            "frame_time": "",
            "legend_title": "",
            "legend": {"gradient": "#888, #888", "labels": [], "no_data": "#808080"},
            "state_counts": {},
            "state_colours": _STATE_COLOURS,
            "coloured_sensors": 0,
        }
    )

    @state.change("building_id")
    async def _on_building(building_id: str | None, **_: Any) -> None:
        if building_id and (viewer.building is None or viewer.building.id != building_id):
            await viewer.select_building(building_id)

    @state.change("metric")
    async def _on_metric(**_: Any) -> None:
        await viewer.refresh()

    @state.change("mode")
    async def _on_mode(mode: str, **_: Any) -> None:
        if mode == "replay" and not viewer.replaying:
            await viewer.load_replay()
            with state:
                state.t = state.t_min
        if mode == "live":
            state.playing = False
        await viewer.refresh()

    @state.change("t")
    async def _on_time(**_: Any) -> None:
        if state.mode == "replay":
            await viewer.refresh()

    @state.change("replay_hours")
    async def _on_replay_hours(replay_hours: Any, **_: Any) -> None:
        if state.mode == "replay" and float(replay_hours or 0) > 0:
            await reload_replay()

    @state.change("jump_alert")
    async def _on_jump_alert(jump_alert: str | None, **_: Any) -> None:
        if jump_alert:
            await viewer.jump_to_alert(jump_alert)

    @state.change("selected_sensor")
    async def _on_sensor(**_: Any) -> None:
        await viewer.show_sensor()

    async def reload_replay() -> None:
        await viewer.load_replay()
        await viewer.refresh()

    def on_click(event: Any) -> None:
        if isinstance(event, dict):
            viewer.spawn(viewer.pick(event.get("ray")))

    server.trigger("jump_to_alert")(lambda alert_id: viewer.spawn(viewer.jump_to_alert(alert_id)))

    with SinglePageWithDrawerLayout(server, full_height=True) as layout:
        layout.title.set_text("Heritage twin")
        html.Style(_SEVERITY_CSS)
        with layout.toolbar:
            v3.VSpacer()
            v3.VSelect(
                v_model=("building_id",),
                items=("buildings",),
                label="Building",
                id="building-select",
                density="compact",
                hide_details=True,
                style="max-width: 260px",
                classes="mx-2",
            )
            v3.VSelect(
                v_model=("metric",),
                items=("metrics",),
                label="Colour by",
                id="metric-select",
                density="compact",
                hide_details=True,
                style="max-width: 280px",
                classes="mx-2",
            )
            with v3.VBtnToggle(
                v_model=("mode",), mandatory=True, density="compact", classes="mx-2"
            ):
                v3.VBtn("Live", value="live", id="mode-live")
                v3.VBtn("Replay", value="replay", id="mode-replay")
            html.A("District", href="/viewer/district", classes="mx-3", target="_blank")

        with layout.drawer as drawer:
            drawer.width = 380
            drawer.location = "end"
            _alert_panel(html, v3)
            _sensor_panel(html, v3)

        with (
            layout.content,
            html.Div(style="display: flex; flex-direction: column; height: calc(100vh - 64px)"),
        ):
            _replay_bar(html, v3)
            with html.Div(style="flex: 1 1 auto; position: relative; min-height: 400px"):
                view = vtk_widgets.VtkLocalView(
                    viewer.pl.ren_win,
                    id="model-view",
                    picking_modes=("['click']",),
                    click=(on_click, "[$event]"),
                    style="position: absolute; inset: 0",
                )
                viewer.view = view
                html.Div(
                    "{{ building_name }} · {{ legend_title }} · {{ frame_time }}"
                    " · {{ coloured_sensors }} sensors with data",
                    id="frame-caption",
                    style="position: absolute; left: 8px; top: 8px; background: #fffc;"
                    " padding: 2px 6px; font: 14px sans-serif",
                )
                _legend(html)
                with html.Div(
                    id="state-counts",
                    style="position: absolute; left: 8px; bottom: 28px; background: #fffc;"
                    " padding: 2px 6px",
                ):
                    html.Span(
                        "{{ n }} {{ s }}",
                        v_for="(n, s) in state_counts",
                        key="s",
                        classes="state-chip",
                        style=("{ background: state_colours[s] }",),
                    )


def _legend(html: Any) -> None:
    with html.Div(
        id="legend",
        style="position: absolute; right: 12px; top: 40px; bottom: 60px; width: 150px;"
        " font: 13px sans-serif; display: flex; flex-direction: column",
    ):
        html.Div("{{ legend_title }}", style="font-weight: bold; margin-bottom: 4px")
        with html.Div(style="flex: 1; display: flex"):
            html.Div(
                style=(
                    "{ width: '28px', background: 'linear-gradient(to top, ' +"
                    " legend.gradient + ')' }",
                ),
            )
            with html.Div(
                style="display: flex; flex-direction: column-reverse;"
                " justify-content: space-between; margin-left: 6px"
            ):
                html.Span("{{ label }}", v_for="label in legend.labels", key="label")
        with html.Div(style="margin-top: 6px; display: flex; align-items: center"):
            html.Span(
                style=(
                    "{ width: '28px', height: '14px', display: 'inline-block',"
                    " background: legend.no_data }",
                ),
            )
            html.Span("no data", style="margin-left: 6px")


def _replay_bar(html: Any, v3: Any) -> None:
    # v-if, not v-show: vuetify's d-flex sets display with !important, which v-show cannot undo.
    with html.Div(v_if="mode == 'replay'", classes="d-flex align-center px-3", id="replay-bar"):
        v3.VBtn(
            icon=("playing ? 'mdi-pause' : 'mdi-play'",),
            click="playing = !playing",
            id="play-pause",
            density="compact",
            variant="text",
        )
        v3.VSlider(
            v_model=("t",),
            min=("t_min",),
            max=("t_max",),
            step=1,
            hide_details=True,
            classes="time-slider mx-3",
        )
        v3.VSelect(
            v_model=("speed",),
            items=("speeds",),
            label="Speed",
            density="compact",
            hide_details=True,
            style="max-width: 110px",
        )
        v3.VSelect(
            v_model=("jump_alert",),
            items=("alert_starts",),
            label="Jump to an alert's start",
            id="alert-jump",
            no_data_text="no alert opened in this period",
            density="compact",
            hide_details=True,
            style="max-width: 260px",
            classes="mx-2",
        )
        v3.VTextField(
            v_model_number=("replay_hours",),
            label="Hours back",
            type="number",
            density="compact",
            hide_details=True,
            style="max-width: 110px",
            classes="mx-2",
        )


def _alert_panel(html: Any, v3: Any) -> None:
    html.Div("Alerts open {{ mode == 'live' ? 'now' : 'then' }}", classes="text-h6 pa-2")
    with html.Div(id="alert-list"):
        html.Div("No open alerts", v_if="!alerts.length", classes="pa-2 text-medium-emphasis")
        with v3.VCard(
            v_for="a in alerts",
            key="a.id",
            classes=("'ma-2 alert-item alert-' + a.severity",),
            density="compact",
            variant="outlined",
        ):
            v3.VCardTitle(
                "{{ a.severity.toUpperCase() }} · {{ a.sensor_id }}", classes="text-body-1"
            )
            v3.VCardSubtitle("{{ a.rule_id }} · opened {{ a.opened }} UTC · {{ a.value }}")
            v3.VCardSubtitle("now: {{ a.state }}")
            # Most messages already cite their standard; name it only where one does not.
            v3.VCardText(
                "{{ a.message }}"
                "{{ a.message.includes(a.standard) ? '' : ' (' + a.standard + ')' }}",
                classes="text-body-2",
            )
            with v3.VCardActions():
                v3.VBtn(
                    "Replay from start",
                    click="trigger('jump_to_alert', [a.id])",
                    density="compact",
                    classes="jump-to-alert",
                )
                v3.VBtn("Show sensor", click="selected_sensor = a.sensor_id", density="compact")


def _sensor_panel(html: Any, v3: Any) -> None:
    v3.VDivider()
    html.Div("Sensor", classes="text-h6 pa-2")
    v3.VAutocomplete(
        v_model=("selected_sensor",),
        items=("sensors",),
        label="Pick on the model, or choose",
        density="compact",
        clearable=True,
        hide_details=True,
        classes="mx-2",
        id="sensor-select",
    )
    with html.Div(v_if="sensor_info", classes="pa-2", id="sensor-info"):
        html.Div(
            "{{ sensor_info.id }} · {{ sensor_info.kind }} · floor {{ sensor_info.floor }}"
            " · zone {{ sensor_info.zone }} · {{ sensor_info.state }}"
        )
        html.Div("{{ line }}", v_for="line in sensor_info.latest", key="line")
        html.Div(v_html=("chart_svg",), classes="mt-1")
