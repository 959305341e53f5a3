"""Incidents: alerts on several sensors of one structural zone within a short time, grouped.

A facility manager woken by a piling rig next door wants one incident ("street facade, night
construction noise, 10 sensors"), not forty separate alerts. An alert that opens in a zone
joins the zone's open incident if that incident saw a new alert within ``window_s``;
otherwise it starts a new one. An incident resolves when its last alert does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace

from models.alerting import Incident, IncidentState
from models.types import Alert, AlertState, Severity


class IncidentBook:
    """The open incidents and which unresolved alerts each one holds."""

    def __init__(self, *, window_s: float = 600.0) -> None:
        self.window_s = window_s
        self._open: dict[str, Incident] = {}
        self._members: dict[str, dict[str, Alert]] = {}  # incident id -> alert id -> alert
        self._by_zone: dict[tuple[str, str], str] = {}  # (building, zone) -> incident id
        self._joined_at: dict[str, float] = {}  # incident id -> when an alert last joined

    def restore(self, incidents: Iterable[Incident], alerts: Iterable[Alert]) -> None:
        """Take back open incidents and their unresolved alerts after a restart."""
        for incident in incidents:
            if incident.state is IncidentState.OPEN:
                self._open[incident.id] = incident
                self._members[incident.id] = {}
                self._by_zone[(incident.building_id, incident.zone)] = incident.id
                self._joined_at[incident.id] = incident.updated_at
        for alert in alerts:
            if alert.incident_id in self._members and alert.state is not AlertState.RESOLVED:
                self._members[alert.incident_id][alert.id] = alert

    def get(self, incident_id: str) -> Incident | None:
        return self._open.get(incident_id)

    def members(self, incident_id: str) -> list[Alert]:
        """The unresolved alerts of an open incident, oldest first."""
        return sorted(self._members.get(incident_id, {}).values(), key=lambda a: a.opened_at)

    def open_incidents(self) -> list[Incident]:
        return sorted(self._open.values(), key=lambda i: i.opened_at)

    def join(self, alert: Alert, zone: str, t: float) -> Incident:
        """The incident a newly opened (or reopened) alert belongs to, opened if need be."""
        current = self._by_zone.get((alert.building_id, zone))
        incident = self._open.get(current) if current else None
        if incident is None or t - self._joined_at[incident.id] > self.window_s:
            incident = Incident(
                id=uuid.uuid4().hex,
                building_id=alert.building_id,
                zone=zone,
                state=IncidentState.OPEN,
                severity=alert.severity,
                opened_at=t,
                updated_at=t,
            )
            self._open[incident.id] = incident
            self._members[incident.id] = {}
            self._by_zone[(alert.building_id, zone)] = incident.id
        self._members[incident.id][alert.id] = alert
        self._joined_at[incident.id] = t
        return self._refresh(incident, t)

    def update(self, alert: Alert, t: float) -> Incident | None:
        """Record a change of one of an incident's alerts; the incident as it now stands."""
        incident = self._open.get(alert.incident_id)
        if incident is None:
            return None
        members = self._members[incident.id]
        if alert.state is AlertState.RESOLVED:
            members.pop(alert.id, None)
        else:
            members[alert.id] = alert
        if not members:
            resolved = replace(incident, state=IncidentState.RESOLVED, resolved_at=t, updated_at=t)
            del self._open[incident.id]
            del self._members[incident.id]
            del self._joined_at[incident.id]
            if self._by_zone.get((incident.building_id, incident.zone)) == incident.id:
                del self._by_zone[(incident.building_id, incident.zone)]
            return resolved
        return self._refresh(incident, t)

    def _refresh(self, incident: Incident, t: float) -> Incident:
        worst = max(
            (a.severity for a in self._members[incident.id].values()),
            key=lambda s: s.rank,
            default=Severity.INFO,
        )
        incident = replace(incident, severity=worst, updated_at=t)
        self._open[incident.id] = incident
        return incident
