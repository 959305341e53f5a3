"""Readings of one channel over a time range."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from data import Bucket, UnknownChannelError
from models.access import Role
from twin.access import require
from twin.deps import Context, parse_time
from twin.schemas import ReadingPublic, SeriesPublic, SummaryPublic

router = APIRouter(
    prefix="/api/v1/channels", tags=["readings"], dependencies=[Depends(require(Role.VIEWER))]
)

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


@router.get("/{channel_id:path}/series")
async def channel_series(
    channel_id: str,
    context: Context,
    start: Annotated[
        str | None, Query(description="ISO 8601 or epoch seconds; default a day before end")
    ] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or epoch seconds; default now")] = None,
    bucket: Annotated[
        Bucket | None,
        Query(description="raw, 1m or 1h; chosen from the range when not given"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> SeriesPublic:
    """Min, max and mean per bucket, for charts and replay over any range."""
    end_s = parse_time(end, "end") if end is not None else context.clock() + 1.0
    start_s = parse_time(start, "start") if start is not None else end_s - 86_400.0
    if start_s > end_s:
        raise HTTPException(422, "start must not be after end")
    width = bucket or Bucket.for_range(start_s, end_s)
    try:
        points = await context.store.series(channel_id, start_s, end_s, width, limit=limit)
    except UnknownChannelError:
        raise HTTPException(
            404, f"no channel {channel_id!r}; a channel id is sensor/metric, e.g. tilt-ne/x"
        ) from None
    return SeriesPublic(
        channel_id=channel_id, bucket=width, points=[SummaryPublic.of(p) for p in points]
    )
