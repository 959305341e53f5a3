"""The alert manager: findings become alerts, and alerts move through their lifecycle.

One unresolved alert per (sensor, rule), updated with the worst value seen. The lifecycle is
``open -> acknowledged -> resolved``: a person acknowledges or resolves, the twin resolves by
itself once the rule stays clear for ``hold_off_s``. A finding soon after a resolution
reopens the same alert rather than starting another (``reopen_within_s``). Severity rises at
once with the finding's and by one step when the condition lasts ``raise_after_s``; it falls
back only after the lower level held for ``lower_after_s`` (hysteresis). Shelved alerts stay
as they are but are hidden and not re-notified until the shelf expires. Every transition is
an ``AlertEvent``; alerts join zone incidents (``alerts.incidents``).

Time comes from the readings, so the manager runs the same on a live clock, an accelerated
demo clock or a backtest; people's actions carry the twin's clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from alerts.incidents import IncidentBook
from models.alerting import SYSTEM, AlertAction, AlertEvent, Incident
from models.types import Alert, AlertState, Finding, Severity

_RAISED = {Severity.INFO: Severity.WARNING, Severity.WARNING: Severity.ALARM}


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert as it now stands, what happened to it, and its incident."""

    alert: Alert
    events: tuple[AlertEvent, ...]
    incident: Incident | None


AlertSink = Callable[[Alert, Sequence[AlertEvent], Incident | None], Awaitable[None]]
ChangeListener = Callable[[AlertChange], None]


class AlertActionError(ValueError):
    """A person's action that does not apply to the alert as it stands (e.g. already resolved)."""


class AlertManager:
    """Keeps unresolved alerts in memory and hands every change to ``save``, then listeners."""

    def __init__(
        self,
        *,
        save: AlertSink,
        load: Callable[[str], Awaitable[Alert | None]] | None = None,
        zone_of: Callable[[str, str], str] = lambda building_id, sensor_id: "",
        hold_off_s: float = 900.0,
        save_every_s: float = 60.0,
        reopen_within_s: float = 3600.0,
        raise_after_s: float = 3600.0,
        lower_after_s: float = 900.0,
        incident_window_s: float = 600.0,
    ) -> None:
        self.save = save
        self.load = load
        self.zone_of = zone_of
        self.hold_off_s = hold_off_s
        # A long exceedance updates its alert with every reading; the store hears of it when
        # something a person would notice changes, and otherwise at most this often.
        self.save_every_s = save_every_s
        self.reopen_within_s = reopen_within_s
        self.raise_after_s = raise_after_s
        self.lower_after_s = lower_after_s
        self.incidents = IncidentBook(window_s=incident_window_s)
        self.listeners: list[ChangeListener] = []
        self._open: dict[tuple[str, str], Alert] = {}
        self._resolved: dict[tuple[str, str], Alert] = {}  # recently resolved, may reopen
        self._active_since: dict[str, float] = {}  # alert id -> start of the current episode
        self._lower_since: dict[str, float] = {}  # alert id -> since findings ran lower
        self._saved_at: dict[str, float] = {}

    def restore(self, alerts: Iterable[Alert], incidents: Iterable[Incident] = ()) -> None:
        """Take back the unresolved alerts and open incidents from before a restart."""
        alerts = list(alerts)
        for alert in alerts:
            if alert.state is not AlertState.RESOLVED:
                self._open[(alert.sensor_id, alert.rule_id)] = alert
                self._active_since[alert.id] = alert.opened_at
        self.incidents.restore(incidents, alerts)

    def open_alerts(self) -> list[Alert]:
        return sorted(self._open.values(), key=lambda a: a.opened_at)

    def clear_thresholds(self, earliest: float) -> tuple[float, dict[tuple[str, str], float]]:
        """From when a clear evaluation (``observe`` with no finding) could change anything,
        given no finding older than ``earliest`` is observed meanwhile: for every (sensor,
        rule) with an unresolved alert, and for the rest. A clear resolves only
        ``hold_off_s`` after the last finding seen, and before any finding there is no alert
        to resolve. Earlier clears may be skipped."""
        unresolved = {
            key: min(alert.last_seen_at, earliest) + self.hold_off_s
            for key, alert in self._open.items()
        }
        return earliest + self.hold_off_s, unresolved

    def is_open(self, sensor_id: str, rule_id: str) -> bool:
        """Whether (sensor, rule) has an unresolved alert: if not, a clear evaluation changes
        nothing and the caller may skip ``observe`` (it runs for every reading)."""
        return (sensor_id, rule_id) in self._open

    def find(self, alert_id: str) -> Alert | None:
        """An unresolved alert by id, as the manager holds it (fresher than the store)."""
        return next((a for a in self._open.values() if a.id == alert_id), None)

    # -- findings ---------------------------------------------------------------------------

    async def observe(
        self, building_id: str, sensor_id: str, rule_id: str, t: float, finding: Finding | None
    ) -> Alert | None:
        """Apply one evaluation of ``rule_id`` on a sensor; returns the alert if it changed."""
        key = (sensor_id, rule_id)
        alert = self._open.get(key)
        if finding is None:
            if alert is None or t - alert.last_seen_at < self.hold_off_s:
                return None
            minutes = self.hold_off_s / 60
            return await self._resolve(alert, t, SYSTEM, f"clear for {minutes:g} min")
        if alert is None:
            return await self._open_alert(building_id, sensor_id, rule_id, t, finding)
        events: list[AlertEvent] = []
        worse = abs(finding.value) > abs(alert.worst_value)
        updated = replace(
            alert,
            value=finding.value,
            updated_at=t,
            last_seen_at=t,
            worst_value=finding.value if worse else alert.worst_value,
            channel_id=finding.channel_id if worse else alert.channel_id,
            limit=finding.limit,
            message=finding.message if worse else alert.message,
        )
        updated = self._judge_severity(updated, finding, t, events)
        noteworthy = worse or bool(events)
        self._open[key] = updated
        if noteworthy or t - self._saved_at.get(alert.id, float("-inf")) >= self.save_every_s:
            incident = self.incidents.update(updated, t) if events else None
            await self._commit(updated, events, incident, t)
        return updated

    def _judge_severity(
        self, alert: Alert, finding: Finding, t: float, events: list[AlertEvent]
    ) -> Alert:
        target = finding.severity
        if t - self._active_since.get(alert.id, alert.opened_at) >= self.raise_after_s:
            target = _RAISED.get(target, target)  # a condition that lasts is worse
        if target.rank > alert.severity.rank:
            self._lower_since.pop(alert.id, None)
            note = f"{alert.severity} -> {target}"
            alert = replace(alert, severity=target)
            events.append(self._severity_event(alert, t, AlertAction.SEVERITY_RAISED, note))
        elif target.rank < alert.severity.rank:
            since = self._lower_since.setdefault(alert.id, t)
            if t - since >= self.lower_after_s:
                del self._lower_since[alert.id]
                note = f"{alert.severity} -> {target} after {self.lower_after_s / 60:g} min lower"
                alert = replace(alert, severity=target)
                events.append(self._severity_event(alert, t, AlertAction.SEVERITY_LOWERED, note))
        else:
            self._lower_since.pop(alert.id, None)
        return alert

    def _severity_event(self, alert: Alert, t: float, action: AlertAction, note: str) -> AlertEvent:
        return self._event(alert, t, SYSTEM, action, from_state=alert.state, note=note)

    async def _open_alert(
        self, building_id: str, sensor_id: str, rule_id: str, t: float, finding: Finding
    ) -> Alert:
        key = (sensor_id, rule_id)
        previous = self._resolved.pop(key, None)
        if previous is not None and t - (previous.resolved_at or t) <= self.reopen_within_s:
            alert = replace(
                previous,
                state=AlertState.OPEN,
                severity=finding.severity,
                resolved_at=None,
                acknowledged_at=None,
                acknowledged_by="",
                updated_at=t,
                last_seen_at=t,
                value=finding.value,
                worst_value=finding.value,
                channel_id=finding.channel_id,
                limit=finding.limit,
                message=finding.message,
            )
            action, from_state = AlertAction.REOPENED, AlertState.RESOLVED
        else:
            alert = Alert(
                id=uuid.uuid4().hex,
                building_id=building_id,
                sensor_id=sensor_id,
                channel_id=finding.channel_id,
                rule_id=rule_id,
                state=AlertState.OPEN,
                severity=finding.severity,
                opened_at=t,
                updated_at=t,
                value=finding.value,
                worst_value=finding.value,
                limit=finding.limit,
                standard=finding.standard,
                message=finding.message,
                last_seen_at=t,
            )
            action, from_state = AlertAction.OPENED, None
        incident = self.incidents.join(alert, self.zone_of(building_id, sensor_id), t)
        alert = replace(alert, incident_id=incident.id)
        incident = self.incidents.update(alert, t) or incident  # holds the alert with its id
        self._open[key] = alert
        self._active_since[alert.id] = t
        event = self._event(alert, t, SYSTEM, action, from_state=from_state, note=finding.message)
        await self._commit(alert, [event], incident, t)
        return alert

    async def _resolve(self, alert: Alert, t: float, actor: str, note: str) -> Alert:
        resolved = replace(alert, state=AlertState.RESOLVED, resolved_at=t, updated_at=t)
        event = self._event(resolved, t, actor, AlertAction.RESOLVED, from_state=alert.state)
        event = replace(event, note=note)
        incident = self.incidents.update(resolved, t)
        # Saved first: if saving fails the alert stays unresolved here too.
        await self._commit(resolved, [event], incident, t)
        key = (alert.sensor_id, alert.rule_id)
        self._open.pop(key, None)
        self._resolved[key] = resolved
        for book in (self._saved_at, self._active_since, self._lower_since):
            book.pop(alert.id, None)
        return resolved

    # -- people's actions -------------------------------------------------------------------

    async def acknowledge(self, alert_id: str, *, by: str, now: float, note: str = "") -> Alert:
        alert = await self._unresolved(alert_id, "acknowledge")
        if alert.state is AlertState.ACKNOWLEDGED:
            return alert  # twice is once: two people pressing the button at 3 a.m.
        acked = replace(
            alert, state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=by
        )
        event = self._event(
            acked, now, by, AlertAction.ACKNOWLEDGED, from_state=alert.state, note=note
        )
        return await self._person_changed(acked, event, now)

    async def resolve(self, alert_id: str, *, by: str, now: float, note: str = "") -> Alert:
        alert = await self._unresolved(alert_id, "resolve")
        return await self._resolve(alert, now, by, note)

    async def shelve(
        self, alert_id: str, *, by: str, now: float, until: float, note: str = ""
    ) -> Alert:
        if until <= now:
            raise AlertActionError("a shelf must end in the future")
        alert = await self._unresolved(alert_id, "shelve")
        shelved = replace(alert, shelved_until=until)
        event = self._event(shelved, now, by, AlertAction.SHELVED, from_state=alert.state)
        event = replace(event, note=note or f"until {until:.0f}")
        return await self._person_changed(shelved, event, now)

    async def unshelve(self, alert_id: str, *, by: str, now: float, note: str = "") -> Alert:
        alert = await self._unresolved(alert_id, "unshelve")
        if alert.shelved_until is None:
            return alert
        back = replace(alert, shelved_until=None)
        event = self._event(back, now, by, AlertAction.UNSHELVED, from_state=alert.state, note=note)
        return await self._person_changed(back, event, now)

    async def add_note(self, alert_id: str, *, by: str, now: float, note: str) -> Alert:
        if not note.strip():
            raise AlertActionError("a note needs some text")
        alert = self.find(alert_id) or await self._stored(alert_id)
        event = self._event(alert, now, by, AlertAction.NOTE, from_state=alert.state, note=note)
        await self._commit(alert, [event], None, now)
        return alert

    async def tick(self, now: float) -> None:
        """Take expired shelves off (the alert is shown and notified again)."""
        for alert in list(self._open.values()):
            if alert.shelved_until is not None and alert.shelved_until <= now:
                back = replace(alert, shelved_until=None)
                event = self._event(
                    back, now, SYSTEM, AlertAction.UNSHELVED, from_state=alert.state
                )
                await self._person_changed(back, replace(event, note="shelf expired"), now)

    async def _unresolved(self, alert_id: str, verb: str) -> Alert:
        alert = self.find(alert_id)
        if alert is None:
            stored = await self._stored(alert_id)
            raise AlertActionError(f"cannot {verb} alert {alert_id}: it is {stored.state}")
        return alert

    async def _stored(self, alert_id: str) -> Alert:
        alert = await self.load(alert_id) if self.load is not None else None
        if alert is None:
            raise KeyError(alert_id)
        return alert

    async def _person_changed(self, alert: Alert, event: AlertEvent, now: float) -> Alert:
        incident = self.incidents.update(alert, now)
        await self._commit(alert, [event], incident, now)
        self._open[(alert.sensor_id, alert.rule_id)] = alert
        return alert

    # -- recording --------------------------------------------------------------------------

    async def _commit(
        self, alert: Alert, events: Sequence[AlertEvent], incident: Incident | None, t: float
    ) -> None:
        await self.save(alert, events, incident)
        self._saved_at[alert.id] = t
        if events:
            change = AlertChange(alert, tuple(events), incident)
            for listener in self.listeners:
                listener(change)

    @staticmethod
    def _event(
        alert: Alert,
        t: float,
        actor: str,
        action: AlertAction,
        *,
        from_state: AlertState | None,
        note: str = "",
    ) -> AlertEvent:
        return AlertEvent(
            alert_id=alert.id,
            time=t,
            actor=actor,
            action=action,
            from_state=from_state,
            to_state=alert.state,
            severity=alert.severity,
            note=note,
            building_id=alert.building_id,
            incident_id=alert.incident_id,
        )
