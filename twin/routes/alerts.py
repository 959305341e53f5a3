"""Alerts and dead letters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from models.types import AlertState
from twin.deps import Context
from twin.schemas import AlertPublic, DeadLetterPublic

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/alerts")
async def list_alerts(
    context: Context,
    building_id: str | None = None,
    state: AlertState | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AlertPublic]:
    """Alerts, newest first."""
    alerts = await context.store.alerts(building_id=building_id, state=state, limit=limit)
    return [AlertPublic.of(a) for a in alerts]


@router.get("/dead-letters")
async def list_dead_letters(
    context: Context,
    reason: Annotated[str | None, Query(description="only this reason, e.g. not_json")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> list[DeadLetterPublic]:
    """Rejected messages and records with the reason, newest first."""
    letters = await context.store.dead_letters(reason=reason, limit=limit)
    return [DeadLetterPublic.of(d) for d in letters]


@router.get("/dead-letters/counts")
async def dead_letter_counts(context: Context) -> dict[str, int]:
    """How many messages or records were refused, per reason."""
    return await context.store.dead_letter_counts()
