"""The alert manager: findings become alerts, one open alert per (sensor, rule).

An open alert is updated with the worst value seen and resolved once its rule has been
evaluated clear for ``hold_off_s`` seconds of reading time. Time comes from the readings, so
the manager runs the same on a live clock, an accelerated demo clock or a backtest.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from models.types import Alert, AlertState, Finding

AlertSink = Callable[[Alert], Awaitable[None]]


class AlertManager:
    """Keeps open alerts in memory and hands every changed alert to ``save``."""

    def __init__(
        self, *, save: AlertSink, hold_off_s: float = 900.0, save_every_s: float = 60.0
    ) -> None:
        self.save = save
        self.hold_off_s = hold_off_s
        # A long exceedance updates its alert with every reading; the store hears of it when
        # something a person would notice changes, and otherwise at most this often.
        self.save_every_s = save_every_s
        self._open: dict[tuple[str, str], Alert] = {}
        self._saved_at: dict[str, float] = {}

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Take back the alerts still open before a restart."""
        for alert in alerts:
            if alert.state is not AlertState.RESOLVED:
                self._open[(alert.sensor_id, alert.rule_id)] = alert

    def open_alerts(self) -> list[Alert]:
        return sorted(self._open.values(), key=lambda a: a.opened_at)

    async def observe(
        self, building_id: str, sensor_id: str, rule_id: str, t: float, finding: Finding | None
    ) -> Alert | None:
        """Apply one evaluation of ``rule_id`` on a sensor; returns the alert if it changed."""
        key = (sensor_id, rule_id)
        alert = self._open.get(key)
        if finding is None:
            if alert is None or t - alert.last_seen_at < self.hold_off_s:
                return None
            resolved = replace(alert, state=AlertState.RESOLVED, resolved_at=t, updated_at=t)
            await self.save(resolved)  # first: if saving fails the alert stays open here too
            del self._open[key]
            self._saved_at.pop(alert.id, None)
            return resolved
        noteworthy = True
        if alert is None:
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
        else:
            worse = abs(finding.value) > abs(alert.worst_value)
            noteworthy = worse or finding.severity.rank > alert.severity.rank
            alert = replace(
                alert,
                value=finding.value,
                updated_at=t,
                last_seen_at=t,
                # Severity only rises in this first cut; falling back needs hysteresis.
                severity=max(alert.severity, finding.severity, key=lambda s: s.rank),
                worst_value=finding.value if worse else alert.worst_value,
                channel_id=finding.channel_id if worse else alert.channel_id,
                limit=finding.limit,
                message=finding.message if worse else alert.message,
            )
        self._open[key] = alert
        if noteworthy or t - self._saved_at.get(alert.id, float("-inf")) >= self.save_every_s:
            await self.save(alert)
            self._saved_at[alert.id] = t
        return alert
