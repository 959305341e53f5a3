"""Dispatch decisions on a controlled clock: who hears what, the escalation ladder, shelving,
resolution, a dead endpoint that delays nobody else, and a restart mid-ladder.

Delivery here goes to an in-test notifier that records what it was handed; the real
channels are tested against real servers in test_notifiers.py and end to end in
tests/twin/test_alert_workflow.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from alerts.dispatch import Dispatcher, Draft
from alerts.manager import AlertManager
from alerts.notice import Notice
from models.alerting import (
    AlertEvent,
    ChannelType,
    Escalation,
    Incident,
    Subscription,
)
from models.types import Alert, Finding, SensorKind, Severity

KINDS = {"tilt-ne": SensorKind.TILT, "tilt-nw": SensorKind.TILT, "th-1": SensorKind.CLIMATE}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Outbox:
    """A notifier that keeps what it is asked to deliver; ``stall`` makes one contact hang."""

    channel = ChannelType.WEBHOOK

    def __init__(self, stall: str = "") -> None:
        self.sent: list[tuple[str, str, str]] = []  # (kind, contact, subject)
        self.stall = stall
        self.release = asyncio.Event()

    async def deliver(self, notice: Notice, contact: str, subscription: Subscription) -> bool:
        if contact == self.stall:
            await self.release.wait()
        self.sent.append((notice.kind, contact, notice.subject))
        return True


class Twin:
    """A manager and a dispatcher wired as the twin wires them, with a shared journal."""

    def __init__(
        self, clock: Clock, outbox: Outbox, escalations: dict[tuple[str, str], Escalation]
    ):
        self.alerts: dict[str, Alert] = {}
        self.incidents: dict[str, Incident] = {}
        self.escalations = escalations
        self.manager = AlertManager(
            save=self.save, load=self.load, zone_of=lambda b, s: "north", hold_off_s=600
        )
        self.dispatcher = Dispatcher(
            notifiers={ChannelType.WEBHOOK: outbox},
            compose=self.compose,
            kind_of=lambda b, s: KINDS.get(s),
            clock=clock,
            save_escalation=self.save_escalation,
            delete_escalation=self.delete_escalation,
            tick_s=3600,  # the tests call escalate() themselves
        )
        self.manager.listeners.append(self.dispatcher.submit)

    async def save(self, alert: Alert, events: Sequence[AlertEvent], inc: Incident | None) -> None:
        self.alerts[alert.id] = alert
        if inc is not None:
            self.incidents[inc.id] = inc

    async def load(self, alert_id: str) -> Alert | None:
        return self.alerts.get(alert_id)

    async def save_escalation(self, escalation: Escalation) -> None:
        self.escalations[(escalation.subscription_id, escalation.incident_id)] = escalation

    async def delete_escalation(self, subscription_id: str, incident_id: str) -> None:
        self.escalations.pop((subscription_id, incident_id), None)

    async def compose(self, draft: Draft) -> Notice:
        subject = f"{draft.kind} {len(draft.alerts)} alerts; " + "; ".join(draft.changes)
        return Notice(
            draft.notice_id, draft.subscription.id, draft.incident.id, "b", draft.kind, subject, ""
        )

    async def finding(self, sensor: str, t: float, severity: Severity = Severity.WARNING) -> Alert:
        f = Finding("tilt-limit", f"{sensor}/x", t, severity, 2.4, 3.0, "GB 50007", "tilt")
        alert = await self.manager.observe("b", sensor, "tilt-limit", t, f)
        assert alert is not None
        await self.dispatcher.drain()
        return alert


def ladder(**options: object) -> Subscription:
    fields: dict[str, object] = {
        "id": "duty",
        "name": "Duty engineer",
        "channel": ChannelType.WEBHOOK,
        "contacts": ("http://a.test/hook", "http://b.test/hook"),
        "secret": "s3cret",
        "escalate_after_s": 900.0,
        "max_reminders": 2,
    }
    fields.update(options)
    return Subscription(**fields)  # type: ignore[arg-type]


async def test_the_ladder_moves_on_while_nobody_acknowledges_and_stops_when_someone_does() -> None:
    clock, outbox = Clock(), Outbox()
    twin = Twin(clock, outbox, {})
    twin.dispatcher.restore([ladder()], [], [], [])
    async with twin.dispatcher:
        alert = await twin.finding("tilt-ne", 0)
        assert [s[:2] for s in outbox.sent] == [("opened", "http://a.test/hook")]
        clock.now = 899
        await twin.dispatcher.escalate()
        await twin.dispatcher.drain()
        assert len(outbox.sent) == 1
        clock.now = 900
        await twin.dispatcher.escalate()
        await twin.dispatcher.drain()
        assert outbox.sent[-1][:2] == ("escalated", "http://b.test/hook")
        clock.now = 1800
        await twin.dispatcher.escalate()
        await twin.dispatcher.drain()
        assert outbox.sent[-1][:2] == ("reminder", "http://b.test/hook")
        await twin.manager.acknowledge(alert.id, by="li.wei", now=1900)
        await twin.dispatcher.drain()
        for clock.now in (2700, 3600, 9000):
            await twin.dispatcher.escalate()
        await twin.dispatcher.drain()
        assert [s[0] for s in outbox.sent] == ["opened", "escalated", "reminder"]


async def test_the_ladder_is_bounded_by_its_reminders() -> None:
    clock, outbox = Clock(), Outbox()
    twin = Twin(clock, outbox, {})
    twin.dispatcher.restore([ladder(max_reminders=1)], [], [], [])
    async with twin.dispatcher:
        await twin.finding("tilt-ne", 0)
        for step in range(1, 10):
            clock.now = step * 900.0
            await twin.dispatcher.escalate()
        await twin.dispatcher.drain()
    assert [s[0] for s in outbox.sent] == ["opened", "escalated", "reminder"]


async def test_one_message_per_incident_and_another_only_when_it_gets_worse() -> None:
    clock, outbox = Clock(), Outbox()
    twin = Twin(clock, outbox, {})
    twin.dispatcher.restore([ladder()], [], [], [])
    async with twin.dispatcher:
        a = await twin.finding("tilt-ne", 0)
        clock.now = 60
        b = await twin.finding("tilt-nw", 60)  # same zone: joins the incident quietly
        assert a.incident_id == b.incident_id
        assert [s[0] for s in outbox.sent] == ["opened"]
        clock.now = 120
        await twin.finding("tilt-nw", 120, Severity.ALARM)
        assert [s[0] for s in outbox.sent] == ["opened", "severity_raised"]
        assert "tilt-nw" in outbox.sent[-1][2]  # what changed since the last message
        await twin.manager.resolve(a.id, by="li.wei", now=200)
        await twin.manager.resolve(b.id, by="li.wei", now=210)
        await twin.dispatcher.drain()
    assert [s[0] for s in outbox.sent] == ["opened", "severity_raised", "resolved"]
    assert twin.escalations == {}


async def test_subscriptions_filter_by_building_severity_and_kind() -> None:
    clock, outbox = Clock(), Outbox()
    twin = Twin(clock, outbox, {})
    twin.dispatcher.restore(
        [
            ladder(id="alarms", min_severity=Severity.ALARM),
            ladder(id="climate", kinds=(SensorKind.CLIMATE,)),
            ladder(id="other-building", building_id="elsewhere"),
            ladder(id="tilt", kinds=(SensorKind.TILT,), contacts=("http://t.test/",)),
        ],
        [],
        [],
        [],
    )
    async with twin.dispatcher:
        await twin.finding("tilt-ne", 0)
    assert [s[:2] for s in outbox.sent] == [("opened", "http://t.test/")]


async def test_a_shelved_alert_is_not_notified_until_the_shelf_expires() -> None:
    clock, outbox = Clock(), Outbox()
    twin = Twin(clock, outbox, {})
    twin.dispatcher.restore([ladder()], [], [], [])
    async with twin.dispatcher:
        alert = await twin.finding("tilt-ne", 0)
        await twin.manager.shelve(alert.id, by="li.wei", now=10, until=5000)
        await twin.dispatcher.drain()
        for clock.now in (900, 1800, 2700):
            await twin.dispatcher.escalate()
        await twin.dispatcher.drain()
        assert [s[0] for s in outbox.sent] == ["opened"]
        clock.now = 5000
        await twin.manager.tick(5000)  # the shelf expires: the ladder runs again
        await twin.dispatcher.drain()
        clock.now = 5900
        await twin.dispatcher.escalate()
        await twin.dispatcher.drain()
    assert [s[0] for s in outbox.sent] == ["opened", "escalated"]


async def test_a_stalled_endpoint_delays_nobody_else() -> None:
    clock, outbox = Clock(), Outbox(stall="http://dead.test/")
    twin = Twin(clock, outbox, {})
    twin.dispatcher.restore(
        [ladder(id="dead", contacts=("http://dead.test/",)), ladder(id="live")], [], [], []
    )
    async with twin.dispatcher:
        f = Finding("tilt-limit", "tilt-ne/x", 0, Severity.WARNING, 2.4, 3.0, "GB", "tilt")
        await twin.manager.observe("b", "tilt-ne", "tilt-limit", 0, f)
        for _ in range(100):
            if outbox.sent:
                break
            await asyncio.sleep(0.01)
        assert [s[1] for s in outbox.sent] == ["http://a.test/hook"]
        outbox.release.set()
        await twin.dispatcher.drain()
    assert sorted(s[1] for s in outbox.sent) == ["http://a.test/hook", "http://dead.test/"]


async def test_a_restart_mid_ladder_resumes_at_the_next_step() -> None:
    clock, outbox = Clock(), Outbox()
    escalations: dict[tuple[str, str], Escalation] = {}
    first = Twin(clock, outbox, escalations)
    first.dispatcher.restore([ladder(contacts=("http://a/", "http://b/", "http://c/"))], [], [], [])
    async with first.dispatcher:
        await first.finding("tilt-ne", 0)
        clock.now = 900
        await first.dispatcher.escalate()
        await first.dispatcher.drain()
    assert [s[1] for s in outbox.sent] == ["http://a/", "http://b/"]
    # The process dies; a new one takes back what the store kept.
    second = Twin(clock, outbox, escalations)
    second.alerts, second.incidents = first.alerts, first.incidents
    second.manager.restore(first.alerts.values(), first.incidents.values())
    second.dispatcher.restore(
        [ladder(contacts=("http://a/", "http://b/", "http://c/"))],
        escalations.values(),
        first.incidents.values(),
        first.alerts.values(),
    )
    async with second.dispatcher:
        clock.now = 1000
        await second.dispatcher.escalate()  # not yet due: nothing repeats
        clock.now = 1800
        await second.dispatcher.escalate()
        await second.dispatcher.drain()
    assert [s[:2] for s in outbox.sent][2:] == [("escalated", "http://c/")]


async def test_only_alerts_the_subscriber_hears_of_keep_its_ladder_going() -> None:
    clock, outbox = Clock(), Outbox()
    twin = Twin(clock, outbox, {})
    twin.dispatcher.restore([ladder(kinds=(SensorKind.TILT,))], [], [], [])
    async with twin.dispatcher:
        tilt = await twin.finding("tilt-ne", 0)
        climate = await twin.finding("th-1", 30)  # same zone, a kind this ladder ignores
        assert tilt.incident_id == climate.incident_id
        await twin.manager.acknowledge(tilt.id, by="li.wei", now=60)
        await twin.dispatcher.drain()
        for clock.now in (900, 1800):
            await twin.dispatcher.escalate()
        await twin.dispatcher.drain()
    assert [s[0] for s in outbox.sent] == ["opened"]  # the climate alert wakes nobody here
