"""Incidents: the alerts of one structural zone, acknowledged or resolved together."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from alerts.manager import AlertActionError
from models.access import Role
from models.alerting import Incident, IncidentState
from models.types import Alert, AlertState
from twin.access import ManagerToken, require
from twin.alert_schemas import ActionRequest, IncidentDetail, IncidentPublic
from twin.context import TwinContext
from twin.deps import Context
from twin.routes.alerts import acting
from twin.schemas import AlertPublic

router = APIRouter(
    prefix="/api/v1/incidents", tags=["alerts"], dependencies=[Depends(require(Role.VIEWER))]
)


@router.get("")
async def list_incidents(
    context: Context,
    building_id: str | None = None,
    state: IncidentState | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[IncidentPublic]:
    """Incidents, newest first."""
    incidents = await context.store.incidents(building_id=building_id, state=state, limit=limit)
    return [IncidentPublic.of(i) for i in incidents]


@router.get("/{incident_id}")
async def get_incident(incident_id: str, context: Context) -> IncidentDetail:
    """An incident with all its alerts, worst first."""
    incident, alerts = await _incident(incident_id, context)
    return IncidentDetail(incident=IncidentPublic.of(incident), alerts=alerts)


@router.post("/{incident_id}/acknowledge")
async def acknowledge_incident(
    incident_id: str, body: ActionRequest, context: Context, token: ManagerToken
) -> IncidentDetail:
    """Acknowledge every open alert of the incident: the link in every notice."""
    by, note = acting(token, body.by, body.note)
    for alert in await _unresolved(incident_id, context):
        if alert.state is AlertState.OPEN:
            await context.pipeline.alerts.acknowledge(
                alert.id, by=by, now=context.clock(), note=note
            )
    return await get_incident(incident_id, context)


@router.post("/{incident_id}/resolve")
async def resolve_incident(
    incident_id: str, body: ActionRequest, context: Context, token: ManagerToken
) -> IncidentDetail:
    """Resolve every alert of the incident."""
    by, note = acting(token, body.by, body.note)
    for alert in await _unresolved(incident_id, context):
        try:
            await context.pipeline.alerts.resolve(alert.id, by=by, now=context.clock(), note=note)
        except AlertActionError:
            continue  # resolved meanwhile by the twin itself: the outcome wanted
    return await get_incident(incident_id, context)


async def _incident(incident_id: str, context: TwinContext) -> tuple[Incident, list[AlertPublic]]:
    incident = context.pipeline.alerts.incidents.get(incident_id) or await context.store.incident(
        incident_id
    )
    if incident is None:
        raise _missing(incident_id)
    stored = await context.store.alerts(incident_id=incident_id, limit=5000)
    manager = context.pipeline.alerts
    alerts = [manager.find(a.id) or a for a in stored]
    alerts.sort(key=lambda a: (-a.severity.rank, a.opened_at))
    return incident, [AlertPublic.of(a) for a in alerts]


async def _unresolved(incident_id: str, context: TwinContext) -> list[Alert]:
    """The incident's alerts the manager holds unresolved; 404 when there is no incident."""
    manager = context.pipeline.alerts
    if manager.incidents.get(incident_id) is None and (
        await context.store.incident(incident_id) is None
    ):
        raise _missing(incident_id)
    return [a for a in context.pipeline.alerts.open_alerts() if a.incident_id == incident_id]


def _missing(incident_id: str) -> HTTPException:
    return HTTPException(404, f"no incident {incident_id!r}; GET /api/v1/incidents lists them")
