"""What a notice says: what, where, how bad, since when, what changed, and where to act.

Pure functions over the domain records; the dispatcher decides when to send, the notifiers
how. One rendering feeds every channel: a subject and text for a phone's mail app at 3 a.m.,
and a JSON body (documented in the README) for webhooks and MQTT.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from alerts.notice import Notice
from models.alerting import Incident, Subscription
from models.types import Alert, Building, Sensor

# The rule ids the detectors use, in words a facility manager reads without a manual.
RULE_WORDS = {
    "vibration-limit": "Vibration above the heritage-building limit",
    "stiffness-loss": "The structure got less stiff (natural frequency fell)",
    "tilt-limit": "Tilt beyond the allowable inclination",
    "tilt-trend": "Tilt creeping towards its limit",
    "noise-limit": "Noise above the environmental limit",
    "noise-lmax-night": "Loud night-time noise peaks",
    "construction-noise": "Construction noise above the site limit",
    "construction-lmax-night": "Night-time construction noise peaks",
    "mould-risk": "Mould risk (damp for days)",
    "condensation": "Condensation risk (surface near dew point)",
    "fast-change": "Indoor climate changing too fast for the fabric",
    "spike": "Implausible spike in a sensor's readings",
    "stuck": "A sensor is stuck (same value for too long)",
    "silent": "A device stopped reporting",
    "anomaly": "Unusual readings for this time of day",
    "change-point": "A lasting shift in a sensor's readings",
}

HEADLINES = {
    "opened": "New incident",
    "reopened": "Incident back",
    "severity_raised": "Worse",
    "escalated": "Unacknowledged, escalated to you",
    "reminder": "Still unacknowledged",
    "resolved": "Resolved",
}


@dataclass(frozen=True, slots=True)
class Links:
    """Where the reader acts: the API's base URL, from which every link is made."""

    base_url: str

    def incident(self, incident_id: str) -> str:
        return f"{self.base_url}/api/v1/incidents/{incident_id}"

    def acknowledge(self, incident_id: str) -> str:
        return f"{self.incident(incident_id)}/acknowledge"

    def alert(self, alert_id: str) -> str:
        return f"{self.base_url}/api/v1/alerts/{alert_id}"

    def snapshot(self, building_id: str, sensor_id: str, metric: str) -> str:
        return (
            f"{self.base_url}/api/v1/buildings/{building_id}/snapshot.png"
            f"?metric={metric}&highlight={sensor_id}"
        )


def rule_words(rule_id: str) -> str:
    return RULE_WORDS.get(rule_id, rule_id.replace("-", " ").capitalize())


def compose_notice(
    *,
    notice_id: str,
    kind: str,
    subscription: Subscription,
    building: Building,
    incident: Incident,
    alerts: Sequence[Alert],
    changes: Sequence[str],
    links: Links,
    snapshot_metric: str,
    snapshot_png: bytes | None = None,
) -> Notice:
    """The notice about ``incident`` for one subscriber; ``alerts`` are its alerts, worst
    first, and ``changes`` what happened since this subscriber's last notice."""
    lead = alerts[0]
    sensors = {s.id: s for s in building.sensors}
    where = sensors.get(lead.sensor_id)
    place = f"floor {where.floor}, {where.zone}" if where else incident.zone
    what = rule_words(lead.rule_id)
    more = f" and {len(alerts) - 1} more" if len(alerts) > 1 else ""
    subject = (
        f"[{incident.severity.upper()}] {HEADLINES.get(kind, kind)}: {what}{more}, "
        f"{building.name} {place}"
    )
    body = {
        "notice_id": notice_id,
        "kind": kind,
        "subscription_id": subscription.id,
        "building": {"id": building.id, "name": building.name, "address": building.address},
        "incident": {
            "id": incident.id,
            "zone": incident.zone,
            "state": incident.state.value,
            "severity": incident.severity.value,
            "opened_at": _iso(incident.opened_at),
            "resolved_at": _iso(incident.resolved_at) if incident.resolved_at else None,
        },
        "alerts": [_alert_body(a, sensors.get(a.sensor_id), links) for a in alerts],
        "changes": list(changes),
        "links": {
            "incident": links.incident(incident.id),
            "acknowledge": links.acknowledge(incident.id),
            "snapshot": links.snapshot(building.id, lead.sensor_id, snapshot_metric),
        },
    }
    return Notice(
        id=notice_id,
        subscription_id=subscription.id,
        incident_id=incident.id,
        building_id=building.id,
        kind=kind,
        subject=subject,
        text=_text(kind, building, incident, alerts, sensors, changes, links, snapshot_metric),
        body=body,
        snapshot_png=snapshot_png,
    )


def _alert_body(alert: Alert, located: Sensor | None, links: Links) -> dict[str, object]:
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "what": rule_words(alert.rule_id),
        "state": alert.state.value,
        "severity": alert.severity.value,
        "sensor_id": alert.sensor_id,
        "channel_id": alert.channel_id,
        "floor": located.floor if located else None,
        "zone": located.zone if located else None,
        "position_m": list(located.position) if located else None,
        "value": alert.value,
        "worst_value": alert.worst_value,
        "limit": alert.limit,
        "standard": alert.standard,
        "message": alert.message,
        "since": _iso(alert.opened_at),
        "acknowledged_by": alert.acknowledged_by or None,
        "link": links.alert(alert.id),
    }


def _text(
    kind: str,
    building: Building,
    incident: Incident,
    alerts: Sequence[Alert],
    sensors: dict[str, Sensor],
    changes: Sequence[str],
    links: Links,
    snapshot_metric: str,
) -> str:
    lines = [
        f"{HEADLINES.get(kind, kind)}: {incident.severity.upper()} in {building.name} "
        f"({building.address}), zone {incident.zone or 'unzoned'}",
        f"Since {_local(incident.opened_at)}",
        "",
    ]
    for alert in alerts:
        sensor = sensors.get(alert.sensor_id)
        where = (
            f"floor {sensor.floor}, {sensor.zone}, at "
            f"({sensor.position[0]:.1f}, {sensor.position[1]:.1f}, {sensor.position[2]:.1f}) m"
            if sensor is not None
            else "position unknown"
        )
        lines += [
            f"* {rule_words(alert.rule_id)} [{alert.severity}, {alert.state}]",
            f"  {alert.message}",
            f"  sensor {alert.sensor_id} ({where})",
            f"  value {alert.value:g}, worst {alert.worst_value:g}, limit {alert.limit:g}"
            + (f" ({alert.standard})" if alert.standard else ""),
            f"  since {_local(alert.opened_at)}"
            + (f", acknowledged by {alert.acknowledged_by}" if alert.acknowledged_by else ""),
        ]
    if changes:
        lines += ["", "Since the last message:", *(f"- {c}" for c in changes)]
    lead = alerts[0]
    lines += [
        "",
        f"Acknowledge: POST {links.acknowledge(incident.id)}",
        f"Incident: {links.incident(incident.id)}",
        f"Snapshot: {links.snapshot(building.id, lead.sensor_id, snapshot_metric)}",
    ]
    return "\n".join(lines)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _local(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
