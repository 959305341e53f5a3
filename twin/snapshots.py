"""Snapshots of a building as it is now: the API's snapshot route and e-mailed notices."""

from __future__ import annotations

import asyncio

from models.types import Building, Reading
from twin.context import TwinContext

STALE_AFTER_INTERVALS = 3.0  # a sensor this many reporting intervals late counts as stale


def fresh_values(
    building: Building, latest: dict[str, Reading], metric: str, now: float
) -> dict[str, float]:
    """Each sensor's latest value of ``metric``; stale sensors have none (shown grey)."""
    values = {}
    for sensor in building.sensors:
        for ch in sensor.channels:
            reading = latest.get(ch.id)
            if ch.metric != metric or reading is None:
                continue
            if now - reading.time <= STALE_AFTER_INTERVALS * sensor.expected_interval_s:
                values[sensor.id] = reading.value
    return values


def render(
    context: TwinContext,
    building: Building,
    values: dict[str, float],
    metric: str,
    highlight: str | None,
    title: str,
) -> bytes:
    """A PNG of the building coloured by ``values``; blocking, run it in a thread."""
    from viewer.snapshot import render_snapshot

    with context.render_lock:  # VTK is not thread-safe: one render at a time
        mesh = context.mesh(building.model)
        return render_snapshot(
            mesh, building.sensors, values, metric, highlight=highlight, title=title
        )


async def building_snapshot(
    context: TwinContext, building_id: str, metric: str, *, highlight: str | None = None
) -> bytes:
    """The building now, coloured by ``metric`` from fresh readings, a sensor marked."""
    building = context.pipeline.watched(building_id) or await context.store.building(building_id)
    if building is None:
        raise LookupError(f"no building {building_id!r}")
    values = fresh_values(
        building, await context.store.latest(building.id), metric, context.clock()
    )
    return await asyncio.to_thread(
        render, context, building, values, metric, highlight, building.name
    )
