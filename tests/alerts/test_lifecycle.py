"""The alert lifecycle on a controlled clock: people's actions, reopening, severity with
hysteresis, shelving, zone incidents and the audit trail."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from alerts.manager import AlertActionError, AlertChange, AlertManager
from models.alerting import SYSTEM, AlertAction, AlertEvent, Incident, IncidentState
from models.types import Alert, AlertState, Finding, Severity

ZONES = {"tilt-ne": "corner-ne", "th-ne": "corner-ne", "noise-ne": "corner-ne", "tilt-sw": "sw"}


class Journal:
    """Stands in for the store: keeps what the manager saved, like the store would."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.events: list[AlertEvent] = []
        self.incidents: dict[str, Incident] = {}

    async def save(
        self, alert: Alert, events: Sequence[AlertEvent], incident: Incident | None
    ) -> None:
        self.alerts[alert.id] = alert
        self.events.extend(events)
        if incident is not None:
            self.incidents[incident.id] = incident

    async def load(self, alert_id: str) -> Alert | None:
        return self.alerts.get(alert_id)

    def actions(self, alert_id: str) -> list[tuple[str, str]]:
        return [(e.action.value, e.actor) for e in self.events if e.alert_id == alert_id]


def manager(journal: Journal, **options: float) -> AlertManager:
    return AlertManager(
        save=journal.save,
        load=journal.load,
        zone_of=lambda building, sensor: ZONES[sensor],
        **{"hold_off_s": 600, **options},
    )


def finding(sensor: str, t: float, value: float, severity: Severity = Severity.WARNING) -> Finding:
    return Finding("tilt-limit", f"{sensor}/x", t, severity, value, 3.0, "GB 50007", "tilt")


async def observe(m: AlertManager, sensor: str, t: float, f: Finding | None) -> Alert | None:
    return await m.observe("b", sensor, "tilt-limit", t, f)


async def test_acknowledge_then_resolve_by_people_with_the_audit_trail() -> None:
    journal = Journal()
    m = manager(journal)
    alert = await observe(m, "tilt-ne", 0, finding("tilt-ne", 0, 2.4))
    assert alert is not None
    acked = await m.acknowledge(alert.id, by="li.wei", now=30, note="on my way")
    assert acked.state is AlertState.ACKNOWLEDGED and acked.acknowledged_by == "li.wei"
    again = await m.acknowledge(alert.id, by="zhang.min", now=31)
    assert again.acknowledged_by == "li.wei"  # twice is once
    done = await m.resolve(alert.id, by="li.wei", now=400, note="shoring in place")
    assert done.state is AlertState.RESOLVED and done.resolved_at == 400
    assert journal.actions(alert.id) == [
        ("opened", SYSTEM),
        ("acknowledged", "li.wei"),
        ("resolved", "li.wei"),
    ]
    trail = [e for e in journal.events if e.alert_id == alert.id]
    assert [(e.from_state, e.to_state) for e in trail] == [
        (None, AlertState.OPEN),
        (AlertState.OPEN, AlertState.ACKNOWLEDGED),
        (AlertState.ACKNOWLEDGED, AlertState.RESOLVED),
    ]
    assert trail[1].note == "on my way" and trail[2].time == 400
    with pytest.raises(AlertActionError, match="resolved"):
        await m.acknowledge(alert.id, by="li.wei", now=500)
    noted = await m.add_note(alert.id, by="eng.chen", now=600, note="crack gauge fitted")
    assert noted.state is AlertState.RESOLVED
    assert journal.actions(alert.id)[-1] == ("note", "eng.chen")


async def test_a_finding_soon_after_resolution_reopens_the_same_alert() -> None:
    journal = Journal()
    m = manager(journal, reopen_within_s=3600)
    first = await observe(m, "tilt-ne", 0, finding("tilt-ne", 0, 2.4))
    await m.acknowledge(first.id, by="li.wei", now=10)  # type: ignore[union-attr]
    resolved = await observe(m, "tilt-ne", 600, None)
    assert resolved is not None and resolved.state is AlertState.RESOLVED
    back = await observe(m, "tilt-ne", 1200, finding("tilt-ne", 1200, 2.5))
    assert back is not None and back.id == resolved.id
    assert back.state is AlertState.OPEN and back.acknowledged_by == ""  # needs a person again
    reopened = journal.events[-1]
    assert reopened.action is AlertAction.REOPENED and reopened.from_state is AlertState.RESOLVED


async def test_severity_rises_at_once_and_falls_back_only_after_holding_lower() -> None:
    journal = Journal()
    m = manager(journal, lower_after_s=300, raise_after_s=10**9)
    await observe(m, "tilt-ne", 0, finding("tilt-ne", 0, 2.4))
    alarm = await observe(m, "tilt-ne", 10, finding("tilt-ne", 10, 3.5, Severity.ALARM))
    assert alarm is not None and alarm.severity is Severity.ALARM
    # A dip below the alarm level that does not last changes nothing.
    for t in (20, 100, 200):
        dip = await observe(m, "tilt-ne", t, finding("tilt-ne", t, 2.5))
        assert dip is not None and dip.severity is Severity.ALARM
    await observe(m, "tilt-ne", 250, finding("tilt-ne", 250, 3.4, Severity.ALARM))
    for t in (260, 400, 559):
        held = await observe(m, "tilt-ne", t, finding("tilt-ne", t, 2.5))
        assert held is not None and held.severity is Severity.ALARM
    lowered = await observe(m, "tilt-ne", 560, finding("tilt-ne", 560, 2.5))
    assert lowered is not None and lowered.severity is Severity.WARNING
    assert [e.action for e in journal.events] == [
        AlertAction.OPENED,
        AlertAction.SEVERITY_RAISED,
        AlertAction.SEVERITY_LOWERED,
    ]


async def test_a_condition_that_lasts_gets_more_severe() -> None:
    journal = Journal()
    m = manager(journal, raise_after_s=3600)
    for t in range(0, 3600, 60):
        alert = await observe(m, "tilt-ne", t, finding("tilt-ne", t, 2.4))
        assert alert is not None and alert.severity is Severity.WARNING
    lasting = await observe(m, "tilt-ne", 3600, finding("tilt-ne", 3600, 2.4))
    assert lasting is not None and lasting.severity is Severity.ALARM
    assert journal.events[-1].action is AlertAction.SEVERITY_RAISED


async def test_shelving_hides_until_it_expires() -> None:
    journal = Journal()
    m = manager(journal)
    alert = await observe(m, "tilt-ne", 0, finding("tilt-ne", 0, 2.4))
    assert alert is not None
    with pytest.raises(AlertActionError, match="future"):
        await m.shelve(alert.id, by="li.wei", now=10, until=5)
    shelved = await m.shelve(alert.id, by="li.wei", now=10, until=110, note="survey crew")
    assert shelved.shelved(50) and not shelved.shelved(110)
    await m.tick(109)
    assert m.find(alert.id).shelved_until == 110  # type: ignore[union-attr]
    await m.tick(110)
    assert m.find(alert.id).shelved_until is None  # type: ignore[union-attr]
    assert journal.actions(alert.id)[-2:] == [("shelved", "li.wei"), ("unshelved", SYSTEM)]


async def test_alerts_in_one_zone_within_the_window_form_one_incident() -> None:
    journal = Journal()
    m = manager(journal, incident_window_s=300)
    a = await observe(m, "tilt-ne", 0, finding("tilt-ne", 0, 2.4))
    b = await observe(m, "th-ne", 120, finding("th-ne", 120, 3.5, Severity.ALARM))
    c = await observe(m, "tilt-sw", 130, finding("tilt-sw", 130, 2.4))
    late = await observe(m, "noise-ne", 900, finding("noise-ne", 900, 2.4))
    assert a and b and c and late
    assert a.incident_id == b.incident_id != c.incident_id
    assert late.incident_id not in (a.incident_id, c.incident_id)  # the zone went quiet first
    incident = journal.incidents[a.incident_id]
    assert incident.zone == "corner-ne" and incident.severity is Severity.ALARM
    await observe(m, "tilt-ne", 720, None)
    assert journal.incidents[a.incident_id].state is IncidentState.OPEN  # b still open
    await m.resolve(b.id, by="li.wei", now=800)
    done = journal.incidents[a.incident_id]
    assert done.state is IncidentState.RESOLVED and done.resolved_at == 800


async def test_listeners_hear_every_transition_but_not_plain_updates() -> None:
    journal = Journal()
    m = manager(journal)
    heard: list[AlertChange] = []
    m.listeners.append(heard.append)
    alert = await observe(m, "tilt-ne", 0, finding("tilt-ne", 0, 2.4))
    await observe(m, "tilt-ne", 60, finding("tilt-ne", 60, 2.4))  # same value: no transition
    await m.acknowledge(alert.id, by="li.wei", now=70)  # type: ignore[union-attr]
    assert [c.events[0].action for c in heard] == [AlertAction.OPENED, AlertAction.ACKNOWLEDGED]
    assert all(c.incident is not None for c in heard)


async def test_restart_keeps_alerts_and_incidents() -> None:
    journal = Journal()
    m = manager(journal)
    a = await observe(m, "tilt-ne", 0, finding("tilt-ne", 0, 2.4))
    assert a is not None
    restarted = manager(journal)
    restarted.restore(journal.alerts.values(), journal.incidents.values())
    b = await observe(restarted, "th-ne", 60, finding("th-ne", 60, 2.4))
    assert b is not None and b.incident_id == a.incident_id
    acked = await restarted.acknowledge(a.id, by="li.wei", now=70)
    assert acked.state is AlertState.ACKNOWLEDGED
