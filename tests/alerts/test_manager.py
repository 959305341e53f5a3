"""The alert manager: one open alert per (sensor, rule), worst value, hold-off resolution."""

from __future__ import annotations

from collections.abc import Sequence

from alerts.manager import AlertManager
from models.alerting import AlertEvent, Incident
from models.types import Alert, AlertState, Finding, Severity


def finding(t: float, value: float, severity: Severity = Severity.WARNING) -> Finding:
    return Finding(
        "tilt-limit", "tilt-ne/x", t, severity, value, 3.0, "GB 50007-2011", f"tilt {value}"
    )


class Recorder:
    def __init__(self) -> None:
        self.saved: list[Alert] = []
        self.events: list[AlertEvent] = []
        self.incidents: list[Incident] = []

    async def __call__(
        self, alert: Alert, events: Sequence[AlertEvent], incident: Incident | None
    ) -> None:
        self.saved.append(alert)
        self.events.extend(events)
        if incident is not None:
            self.incidents.append(incident)


async def test_one_open_alert_updated_with_the_worst_value() -> None:
    saved = Recorder()
    manager = AlertManager(save=saved, hold_off_s=600)
    first = await manager.observe("b", "tilt-ne", "tilt-limit", 0, finding(0, 2.4))
    await manager.observe("b", "tilt-ne", "tilt-limit", 60, finding(60, -3.2, Severity.ALARM))
    last = await manager.observe("b", "tilt-ne", "tilt-limit", 120, finding(120, 2.5))
    assert first is not None and last is not None
    assert len(manager.open_alerts()) == 1 and last.id == first.id
    assert last.worst_value == -3.2 and last.value == 2.5
    assert last.severity is Severity.ALARM  # falls back only after lower_after_s
    assert {a.id for a in saved.saved} == {first.id}


async def test_resolves_only_after_the_hold_off_clear() -> None:
    saved = Recorder()
    manager = AlertManager(save=saved, hold_off_s=600)
    await manager.observe("b", "tilt-ne", "tilt-limit", 0, finding(0, 2.4))
    assert await manager.observe("b", "tilt-ne", "tilt-limit", 300, None) is None
    assert await manager.observe("b", "tilt-ne", "tilt-limit", 599, None) is None
    resolved = await manager.observe("b", "tilt-ne", "tilt-limit", 600, None)
    assert resolved is not None and resolved.state is AlertState.RESOLVED
    assert resolved.resolved_at == 600
    assert manager.open_alerts() == []
    later = 600 + manager.reopen_within_s + 1
    again = await manager.observe("b", "tilt-ne", "tilt-limit", later, finding(later, 2.6))
    assert again is not None and again.id != resolved.id


async def test_a_finding_during_the_hold_off_restarts_it() -> None:
    manager = AlertManager(save=Recorder(), hold_off_s=600)
    await manager.observe("b", "tilt-ne", "tilt-limit", 0, finding(0, 2.4))
    await manager.observe("b", "tilt-ne", "tilt-limit", 500, finding(500, 2.4))
    assert await manager.observe("b", "tilt-ne", "tilt-limit", 900, None) is None
    assert await manager.observe("b", "tilt-ne", "tilt-limit", 1100, None) is not None


async def test_different_sensors_and_rules_get_their_own_alerts() -> None:
    manager = AlertManager(save=Recorder())
    await manager.observe("b", "tilt-ne", "tilt-limit", 0, finding(0, 2.4))
    await manager.observe("b", "tilt-sw", "tilt-limit", 0, finding(0, 2.4))
    await manager.observe("b", "tilt-ne", "other-rule", 0, finding(0, 2.4))
    assert len(manager.open_alerts()) == 3


async def test_restore_takes_back_open_alerts() -> None:
    saved = Recorder()
    manager = AlertManager(save=saved, hold_off_s=60)
    await manager.observe("b", "tilt-ne", "tilt-limit", 0, finding(0, 2.4))
    restarted = AlertManager(save=saved, hold_off_s=60)
    restarted.restore(saved.saved)
    resolved = await restarted.observe("b", "tilt-ne", "tilt-limit", 100, None)
    assert resolved is not None and resolved.id == saved.saved[0].id


async def test_a_long_exceedance_is_saved_when_it_matters_not_with_every_reading() -> None:
    saved = Recorder()
    manager = AlertManager(save=saved, hold_off_s=600, save_every_s=60)
    for t in range(0, 300, 10):  # the same value every 10 s for 5 minutes
        await manager.observe("b", "tilt-ne", "tilt-limit", t, finding(t, 2.4))
    assert [a.updated_at for a in saved.saved] == [0, 60, 120, 180, 240]
    await manager.observe("b", "tilt-ne", "tilt-limit", 300, finding(300, 2.9))  # worse: at once
    assert saved.saved[-1].worst_value == 2.9 and saved.saved[-1].updated_at == 300
