"""The viewer's routes: ``/viewer`` (the trame app), the district page, and sensor frames."""

from __future__ import annotations

import asyncio
import html
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from models.access import Role
from twin.access import require
from twin.deps import BuildingDep, Context, parse_time
from twin.frames import frame_at, live_frame
from twin.schemas import AlertPublic, iso
from viewer.scales import SCALES
from viewer.state import HEALTH, SensorState, worst_state

router = APIRouter(tags=["viewer"], dependencies=[Depends(require(Role.VIEWER))])
# The pages a browser opens: they also take the token once as ?token= (then a cookie).
BROWSER_PAGE = [Depends(require(Role.VIEWER, browser=True))]

StateName = Literal["ok", "stale", "offline", "warning", "alarm"]


class SensorFramePublic(BaseModel):
    id: str
    zone: str
    floor: int
    state: StateName
    value: float | None  # this metric's fresh value; None shows grey
    zone_health: float


class FramePublic(BaseModel):
    """What the model shows at one moment: sensor states, values and the alerts open then."""

    time: str
    metric: str
    sensors: list[SensorFramePublic]
    alerts: list[AlertPublic]


@router.get("/api/v1/buildings/{building_id}/frame")
async def building_frame(
    building: BuildingDep,
    context: Context,
    metric: Annotated[str, Query(description="metric, or 'health' for zone health")] = "t",
    at: Annotated[str | None, Query(description="ISO 8601 or epoch seconds; default now")] = None,
) -> FramePublic:
    """Each sensor's state and value of ``metric`` at a moment, as the viewers colour them."""
    if metric != HEALTH and metric not in SCALES:
        raise HTTPException(422, f"unknown metric {metric!r}; known: {', '.join(sorted(SCALES))}")
    if at is None:
        frame = await live_frame(context.store, building, metric, context.clock())
    else:
        frame = await frame_at(context.store, building, metric, parse_time(at, "at"))
    return FramePublic(
        time=iso(frame.time).isoformat(),
        metric=metric,
        sensors=[
            SensorFramePublic(
                id=s.id,
                zone=s.zone,
                floor=s.floor,
                state=frame.states[s.id].value,
                value=frame.values.get(s.id),
                zone_health=frame.health.get(s.id, 0.0),
            )
            for s in building.sensors
        ],
        alerts=[AlertPublic.of(a) for a in frame.alerts],
    )


@router.get(
    "/api/v1/buildings/{building_id}/mesh.ply",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "PLY"}},
)
async def building_mesh(building: BuildingDep, context: Context) -> Response:
    """The building's surface mesh (binary PLY, metres, Z up), for remote viewers."""
    mesh = await asyncio.to_thread(context.mesh, building.model)
    ply = await asyncio.to_thread(mesh.export, file_type="ply")
    return Response(ply, media_type="application/octet-stream")


@router.get("/viewer", response_class=RedirectResponse, status_code=307, dependencies=BROWSER_PAGE)
async def viewer(
    request: Request, context: Context, building: str | None = None
) -> RedirectResponse:
    """The web viewer (a trame app on its own port): shows ``building`` when given."""
    if context.viewer is None or not context.viewer.url:
        raise HTTPException(503, "the web viewer is not running in this twin")
    if building is not None:
        if await context.store.building(building) is None:
            raise HTTPException(404, f"no building {building!r}")
        # trame's state is shared by every screen: choosing here switches them all.
        await context.viewer.select_building(building)
    # Same host name the browser used for the API, so the link works from other machines.
    target = urlsplit(context.viewer.url)
    netloc = f"{request.url.hostname}:{target.port}"
    return RedirectResponse(urlunsplit((target.scheme, netloc, "/", "", "")), status_code=307)


@router.get("/viewer/district", response_class=HTMLResponse, dependencies=BROWSER_PAGE)
async def district(context: Context) -> HTMLResponse:
    """Every registered building with its worst state, on one screen."""
    rows = []
    now = context.clock()
    for building in await context.store.buildings():
        frame = await live_frame(context.store, building, HEALTH, now)
        worst = worst_state(frame.states.values())
        counts = {s: 0 for s in SensorState}
        for state in frame.states.values():
            counts[state] += 1
        rows.append((building, worst.value if worst else "no sensors", counts, len(frame.alerts)))
    return HTMLResponse(_district_html(rows))


_BADGE = {
    "alarm": "#d90000",
    "warning": "#ffa500",
    "offline": "#1a1a1a",
    "stale": "#9e9e9e",
    "ok": "#2e9e40",
}


def _district_html(rows: list) -> str:
    body = []
    for building, worst, counts, n_alerts in rows:
        colour = _BADGE.get(worst, "#9e9e9e")
        tally = " ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        body.append(
            f'<tr class="building" data-building="{html.escape(building.id)}" '
            f'data-worst="{worst}"><td><a href="/viewer?building={html.escape(building.id)}">'
            f"{html.escape(building.name)}</a><br><small>{html.escape(building.address)}</small>"
            f'</td><td><span class="badge" style="background:{colour}">{worst}</span></td>'
            f"<td>{n_alerts}</td><td>{tally}</td></tr>"
        )
    table = "".join(body) or '<tr><td colspan="4">No buildings registered.</td></tr>'
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>District</title>"
        "<meta http-equiv='refresh' content='10'><style>"
        "body{font:15px sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
        "td,th{padding:.6em;border-bottom:1px solid #ddd;text-align:left}"
        ".badge{color:#fff;padding:.2em .7em;border-radius:1em;text-transform:uppercase}"
        "</style></head><body><h1>District overview</h1>"
        "<table><tr><th>Building</th><th>Worst state</th><th>Open alerts</th>"
        f"<th>Sensors</th></tr>{table}</table></body></html>"
    )
