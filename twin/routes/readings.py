"""Readings of one channel over a time range."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from data import UnknownChannelError
from twin.deps import Context, parse_time
from twin.schemas import ReadingPublic

router = APIRouter(prefix="/api/v1/channels", tags=["readings"])

DEFAULT_RANGE_S = 3600.0


@router.get("/{channel_id:path}/readings")
async def channel_readings(
    channel_id: str,
    context: Context,
    start: Annotated[
        str | None, Query(description="ISO 8601 or epoch seconds; default an hour before end")
    ] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or epoch seconds; default now")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> list[ReadingPublic]:
    """Readings with ``start <= time < end``, oldest first; the channel id is ``sensor/metric``."""
    end_s = parse_time(end, "end") if end is not None else context.clock() + 1.0
    start_s = parse_time(start, "start") if start is not None else end_s - DEFAULT_RANGE_S
    if start_s > end_s:
        raise HTTPException(422, "start must not be after end")
    try:
        readings = await context.store.readings(channel_id, start_s, end_s, limit=limit)
    except UnknownChannelError:
        raise HTTPException(
            404, f"no channel {channel_id!r}; a channel id is sensor/metric, e.g. tilt-ne/x"
        ) from None
    return [ReadingPublic.of(r) for r in readings]
