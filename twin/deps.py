"""Dependencies shared by the routes, as `Annotated` aliases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from models.types import Building
from twin.context import TwinContext


def get_context(request: Request) -> TwinContext:
    context: TwinContext = request.app.state.twin
    return context


Context = Annotated[TwinContext, Depends(get_context)]


async def get_building(building_id: str, context: Context) -> Building:
    building = await context.store.building(building_id)
    if building is None:
        raise HTTPException(404, f"no building {building_id!r}; GET /api/v1/buildings lists them")
    return building


BuildingDep = Annotated[Building, Depends(get_building)]


# Epoch seconds a person could mean: 1970 to the year 5138.
_EPOCH_RANGE_S = (0.0, 1e11)


def parse_time(text: str, name: str) -> float:
    """Epoch seconds from ISO 8601 (UTC when no offset is given) or epoch seconds."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise HTTPException(
                422, f"{name}={text!r} is neither ISO 8601 nor epoch seconds"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    if not _EPOCH_RANGE_S[0] <= seconds <= _EPOCH_RANGE_S[1]:  # also refuses nan and inf
        raise HTTPException(422, f"{name}={text!r} is not a time between 1970 and 5000")
    return seconds
