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


def parse_time(text: str, name: str) -> float:
    """Epoch seconds from ISO 8601 (UTC when no offset is given) or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"{name}={text!r} is neither ISO 8601 nor epoch seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
