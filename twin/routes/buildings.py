"""Buildings, their latest state and their snapshot."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from models.access import Role
from models.types import AlertState
from twin.access import require
from twin.deps import BuildingDep, Context, parse_time
from twin.schemas import BuildingPublic, ChannelState, ChannelStatus, iso
from twin.snapshots import STALE_AFTER_INTERVALS, fresh_values, render

router = APIRouter(
    prefix="/api/v1/buildings", tags=["buildings"], dependencies=[Depends(require(Role.VIEWER))]
)


@router.get("")
async def list_buildings(context: Context) -> list[BuildingPublic]:
    return [BuildingPublic.of(b) for b in await context.store.buildings()]


@router.get("/{building_id}")
async def get_building(building: BuildingDep) -> BuildingPublic:
    return BuildingPublic.of(building)


@router.get("/{building_id}/state")
async def building_state(building: BuildingDep, context: Context) -> list[ChannelState]:
    """Latest value, time and status of every channel of the building."""
    latest = await context.store.latest(building.id)
    open_alerts = await context.store.alerts(building_id=building.id, state=AlertState.OPEN)
    severity = {a.sensor_id: a.severity.value for a in reversed(open_alerts)}
    now = context.clock()
    out = []
    for sensor in building.sensors:
        for ch in sensor.channels:
            reading = latest.get(ch.id)
            status: ChannelStatus
            if reading is None:
                status = "no_data"
            elif now - reading.time > STALE_AFTER_INTERVALS * sensor.expected_interval_s:
                status = "stale"
            elif sensor.id in severity and severity[sensor.id] in ("warning", "alarm"):
                status = "alarm" if severity[sensor.id] == "alarm" else "warning"
            else:
                status = "ok"
            out.append(
                ChannelState(
                    channel_id=ch.id,
                    sensor_id=sensor.id,
                    metric=ch.metric,
                    unit=ch.unit,
                    time=iso(reading.time) if reading else None,
                    value=reading.value if reading else None,
                    status=status,
                )
            )
    return out


@router.get(
    "/{building_id}/snapshot.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "PNG image"}},
)
async def snapshot(
    building: BuildingDep,
    context: Context,
    metric: Annotated[
        str, Query(description="channel metric to colour by, e.g. t, rh, laeq")
    ] = "t",
    highlight: Annotated[str | None, Query(description="sensor id to mark")] = None,
    at: Annotated[str | None, Query(description="moment, ISO 8601 or epoch s; default now")] = None,
) -> Response:
    """An offscreen render of the building coloured by a metric, with the sensors marked."""
    from viewer.scales import SCALES

    if metric not in SCALES:
        raise HTTPException(422, f"unknown metric {metric!r}; known: {', '.join(sorted(SCALES))}")
    if highlight is not None and highlight not in {s.id for s in building.sensors}:
        raise HTTPException(404, f"building {building.id} has no sensor {highlight!r}")
    if at is None:
        latest = await context.store.latest(building.id)
        values = fresh_values(building, latest, metric, context.clock())
        title = building.name
    else:
        from twin.frames import frame_at

        moment = parse_time(at, "at")
        values = dict((await frame_at(context.store, building, metric, moment)).values)
        title = f"{building.name}, {iso(moment):%Y-%m-%d %H:%M:%S} UTC"
    png = await asyncio.to_thread(render, context, building, values, metric, highlight, title)
    return Response(png, media_type="image/png")
