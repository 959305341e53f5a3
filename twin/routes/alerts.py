"""Alerts, what people do with them, and dead letters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from alerts.manager import AlertActionError
from models.access import ApiToken, Role
from models.types import Alert, AlertState
from twin.access import ManagerToken, require
from twin.alert_schemas import (
    ActionRequest,
    AlertDetail,
    AlertEventPublic,
    NoteRequest,
    ShelveRequest,
)
from twin.deps import Context
from twin.schemas import AlertPublic, DeadLetterPublic

# Reading is for viewers; acting on an alert (the routes taking a ManagerToken) for managers.
router = APIRouter(prefix="/api/v1", tags=["alerts"], dependencies=[Depends(require(Role.VIEWER))])


def acting(token: ApiToken, by: str | None, note: str) -> tuple[str, str]:
    """Who the audit trail names, and the note: always the token's holder, since that is who
    proved it; a different ``by`` (a person using a shared token) goes into the note."""
    if by is None or by == token.name:
        return token.name, note
    return token.name, f"for {by}: {note}" if note else f"for {by}"


@router.get("/alerts")
async def list_alerts(
    context: Context,
    building_id: str | None = None,
    state: AlertState | None = None,
    incident_id: str | None = None,
    sensor_id: str | None = None,
    rule_id: str | None = None,
    include_shelved: Annotated[
        bool, Query(description="also list alerts shelved until later")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AlertPublic]:
    """Alerts, newest first; shelved ones are hidden unless asked for."""
    alerts = await context.store.alerts(
        building_id=building_id,
        state=state,
        incident_id=incident_id,
        sensor_id=sensor_id,
        rule_id=rule_id,
        limit=limit,
    )
    now = context.clock()
    fresh = {a.id: a for a in context.pipeline.alerts.open_alerts()}
    alerts = [fresh.get(a.id, a) for a in alerts]
    return [AlertPublic.of(a) for a in alerts if include_shelved or not a.shelved(now)]


@router.get("/alerts/{alert_id}")
async def get_alert(alert_id: str, context: Context) -> AlertDetail:
    """One alert with its audit trail: every transition, who made it, when, and why."""
    alert = context.pipeline.alerts.find(alert_id) or await context.store.alert(alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id!r}; GET /api/v1/alerts lists them")
    events = await context.store.alert_events(alert_id, limit=10_000)
    return AlertDetail(alert=AlertPublic.of(alert), events=[AlertEventPublic.of(e) for e in events])


async def _act(alert_id: str, action: Callable[[], Awaitable[Alert]]) -> AlertPublic:
    try:
        return AlertPublic.of(await action())
    except KeyError:
        raise HTTPException(404, f"no alert {alert_id!r}; GET /api/v1/alerts lists them") from None
    except AlertActionError as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(
    alert_id: str, body: ActionRequest, context: Context, token: ManagerToken
) -> AlertPublic:
    """Someone is on it: stops the escalation ladder for this alert. Twice is once."""
    manager, now = context.pipeline.alerts, context.clock()
    by, note = acting(token, body.by, body.note)
    return await _act(alert_id, lambda: manager.acknowledge(alert_id, by=by, now=now, note=note))


@router.post("/alerts/{alert_id}/resolve")
async def resolve(
    alert_id: str, body: ActionRequest, context: Context, token: ManagerToken
) -> AlertPublic:
    """Fixed. If the condition is still there the next reading reopens the same alert."""
    manager, now = context.pipeline.alerts, context.clock()
    by, note = acting(token, body.by, body.note)
    return await _act(alert_id, lambda: manager.resolve(alert_id, by=by, now=now, note=note))


@router.post("/alerts/{alert_id}/shelve")
async def shelve(
    alert_id: str, body: ShelveRequest, context: Context, token: ManagerToken
) -> AlertPublic:
    """Hide the alert and hold its notices for a while, e.g. during planned works."""
    manager, now = context.pipeline.alerts, context.clock()
    until = now + body.minutes * 60
    by, note = acting(token, body.by, body.note)
    return await _act(
        alert_id, lambda: manager.shelve(alert_id, by=by, now=now, until=until, note=note)
    )


@router.post("/alerts/{alert_id}/unshelve")
async def unshelve(
    alert_id: str, body: ActionRequest, context: Context, token: ManagerToken
) -> AlertPublic:
    manager, now = context.pipeline.alerts, context.clock()
    by, note = acting(token, body.by, body.note)
    return await _act(alert_id, lambda: manager.unshelve(alert_id, by=by, now=now, note=note))


@router.post("/alerts/{alert_id}/notes")
async def add_note(
    alert_id: str, body: NoteRequest, context: Context, token: ManagerToken
) -> AlertPublic:
    """Add a note to the audit trail, open or resolved."""
    manager, now = context.pipeline.alerts, context.clock()
    by, note = acting(token, body.by, body.note)
    return await _act(alert_id, lambda: manager.add_note(alert_id, by=by, now=now, note=note))


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
