"""Dispatch: who hears about which incident, when, and through which contact.

The alert manager hands every change to ``Dispatcher.submit``, which only queues it: ingest
never waits on a mail server. One decision task turns changes into notices (an incident
opened, got worse, came back, was resolved; the ladder moved on while nobody acknowledged),
and one worker per subscription delivers them, so a slow or dead endpoint delays its own
subscriber and nobody else. Where each subscriber stands with each incident is an
``Escalation`` record, saved on every step, so a restart resumes the ladder where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from alerts.manager import AlertChange
from alerts.message import rule_words
from alerts.notice import Notice
from alerts.notifiers import Notifier
from models.alerting import (
    AlertAction,
    ChannelType,
    Escalation,
    Incident,
    IncidentState,
    Subscription,
)
from models.types import Alert, AlertState, SensorKind

log = logging.getLogger(__name__)

_STARTS = {
    AlertAction.OPENED,
    AlertAction.REOPENED,
    AlertAction.SEVERITY_RAISED,
    AlertAction.UNSHELVED,
}


@dataclass(frozen=True, slots=True)
class Draft:
    """Everything a notice is made of, fixed when the decision was taken."""

    notice_id: str
    kind: str
    subscription: Subscription
    incident: Incident
    alerts: tuple[Alert, ...]
    changes: tuple[str, ...]
    contact: str


Compose = Callable[[Draft], Awaitable[Notice]]


class Dispatcher:
    """Decides and sends notices for incidents; ``async with`` runs its tasks."""

    def __init__(
        self,
        *,
        notifiers: Mapping[ChannelType, Notifier],
        compose: Compose,
        kind_of: Callable[[str, str], SensorKind | None],
        clock: Callable[[], float] = time.time,
        save_escalation: Callable[[Escalation], Awaitable[None]],
        delete_escalation: Callable[[str, str], Awaitable[None]],
        tick_s: float = 1.0,
    ) -> None:
        self.notifiers = notifiers
        self.compose = compose
        self.kind_of = kind_of
        self.clock = clock
        self.save_escalation = save_escalation
        self.delete_escalation = delete_escalation
        self.tick_s = tick_s
        self._subscriptions: dict[str, Subscription] = {}
        self._escalations: dict[tuple[str, str], Escalation] = {}
        self._incidents: dict[str, Incident] = {}
        self._alerts: dict[str, dict[str, Alert]] = {}  # incident id -> alert id -> alert
        self._changes: dict[tuple[str, str], list[str]] = {}  # since the last notice
        self._inbox: asyncio.Queue[AlertChange] = asyncio.Queue()
        self._outboxes: dict[str, asyncio.Queue[Draft]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._workers: dict[str, asyncio.Task[None]] = {}

    # -- set-up -----------------------------------------------------------------------------

    def restore(
        self,
        subscriptions: Iterable[Subscription],
        escalations: Iterable[Escalation],
        incidents: Iterable[Incident],
        alerts: Iterable[Alert],
    ) -> None:
        """Take back subscriptions, ladders, open incidents and their alerts after a restart."""
        for subscription in subscriptions:
            self._subscriptions[subscription.id] = subscription
        for escalation in escalations:
            self._escalations[(escalation.subscription_id, escalation.incident_id)] = escalation
        for incident in incidents:
            self._incidents[incident.id] = incident
        for alert in alerts:
            if alert.incident_id:
                self._alerts.setdefault(alert.incident_id, {})[alert.id] = alert

    def put_subscription(self, subscription: Subscription) -> None:
        self._subscriptions[subscription.id] = subscription
        if self._tasks:
            self._worker(subscription.id)

    def remove_subscription(self, subscription_id: str) -> None:
        self._subscriptions.pop(subscription_id, None)
        for key in [k for k in self._escalations if k[0] == subscription_id]:
            del self._escalations[key]
        worker = self._workers.pop(subscription_id, None)
        if worker is not None:
            worker.cancel()
        self._outboxes.pop(subscription_id, None)

    def submit(self, change: AlertChange) -> None:
        """Queue a change; returns at once (the alert manager's listener)."""
        self._inbox.put_nowait(change)

    async def __aenter__(self) -> Self:
        self._tasks = [
            asyncio.create_task(self._decide_forever(), name="dispatch-decide"),
            asyncio.create_task(self._escalate_forever(), name="dispatch-escalate"),
        ]
        for subscription_id in self._subscriptions:
            self._worker(subscription_id)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks = [*self._tasks, *self._workers.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks, self._workers = [], {}

    async def drain(self) -> None:
        """Wait until every queued change is decided and every notice delivered or given up."""
        await self._inbox.join()
        for outbox in list(self._outboxes.values()):
            await outbox.join()

    # -- deciding ---------------------------------------------------------------------------

    async def _decide_forever(self) -> None:
        while True:
            change = await self._inbox.get()
            try:
                await self.decide(change)
            except Exception:  # one bad change must not stop every later notice
                log.exception("dispatching a change of alert %s failed", change.alert.id)
            finally:
                self._inbox.task_done()

    async def decide(self, change: AlertChange) -> None:
        """Turn one alert change into the notices it calls for."""
        alert = change.alert
        incident = change.incident or self._incidents.get(alert.incident_id)
        if incident is None:
            return
        self._incidents[incident.id] = incident
        members = self._alerts.setdefault(incident.id, {})
        members[alert.id] = alert
        now = self.clock()
        kind = self.kind_of(alert.building_id, alert.sensor_id)
        actions = {e.action for e in change.events}
        lines = [_describe(alert, e.action, e.actor, e.note, e.time) for e in change.events]
        for subscription in list(self._subscriptions.values()):
            key = (subscription.id, incident.id)
            relevant = kind is not None and subscription.hears(
                alert.building_id, alert.severity, kind
            )
            escalation = self._escalations.get(key)
            if escalation is None:
                if (
                    relevant
                    and actions & _STARTS
                    and self._needs_attention(incident.id, now, subscription)
                ):
                    await self._start(subscription, incident, alert, now)
                continue
            if relevant or incident.state is IncidentState.RESOLVED:
                self._changes.setdefault(key, []).extend(lines)
            if relevant and alert.id not in escalation.alert_ids:
                escalation.alert_ids = (*escalation.alert_ids, alert.id)
            if incident.state is IncidentState.RESOLVED:
                heard = dict.fromkeys(subscription.contact(i) for i in range(escalation.step))
                self._send("resolved", subscription, incident, *heard)
                del self._escalations[key]
                await self.delete_escalation(*key)
                continue
            if relevant and alert.severity.rank > escalation.severity.rank:
                escalation.severity = alert.severity
                contact = subscription.contact(max(escalation.step - 1, 0))
                self._send("severity_raised", subscription, incident, contact)
            elif relevant and AlertAction.REOPENED in actions:
                contact = subscription.contact(max(escalation.step - 1, 0))
                self._send("reopened", subscription, incident, contact)
            if not self._needs_attention(incident.id, now, subscription):
                escalation.next_at = None  # acknowledged or shelved: the ladder stops here
            elif escalation.next_at is None:
                escalation.next_at = now + subscription.escalate_after_s
            await self.save_escalation(escalation)
        if incident.state is IncidentState.RESOLVED:
            self._incidents.pop(incident.id, None)
            self._alerts.pop(incident.id, None)

    async def _start(
        self, subscription: Subscription, incident: Incident, alert: Alert, now: float
    ) -> None:
        escalation = Escalation(
            subscription_id=subscription.id,
            incident_id=incident.id,
            step=1,
            next_at=now + subscription.escalate_after_s,
            severity=alert.severity,
            alert_ids=(alert.id,),
        )
        self._escalations[(subscription.id, incident.id)] = escalation
        await self.save_escalation(escalation)  # before sending: a restart must not repeat it
        self._send("opened", subscription, incident, subscription.contact(0))

    def _needs_attention(self, incident_id: str, now: float, subscription: Subscription) -> bool:
        """Whether some alert of the incident that this subscriber hears of is open,
        unacknowledged and not shelved."""
        for a in self._alerts.get(incident_id, {}).values():
            if a.state is not AlertState.OPEN or a.shelved(now):
                continue
            kind = self.kind_of(a.building_id, a.sensor_id)
            if kind is not None and subscription.hears(a.building_id, a.severity, kind):
                return True
        return False

    # -- escalating -------------------------------------------------------------------------

    async def _escalate_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self.escalate()
            except Exception:  # e.g. the store is down: try again next tick
                log.exception("escalation check failed")

    async def escalate(self) -> None:
        """Move every ladder that is due one step: the next contact, or a reminder."""
        now = self.clock()
        for key, escalation in list(self._escalations.items()):
            if escalation.next_at is None or escalation.next_at > now:
                continue
            subscription = self._subscriptions.get(escalation.subscription_id)
            incident = self._incidents.get(escalation.incident_id)
            if subscription is None or incident is None:
                continue
            if not self._needs_attention(incident.id, now, subscription):
                escalation.next_at = None
            elif escalation.step < len(subscription.contacts) + subscription.max_reminders:
                contact = subscription.contact(escalation.step)
                moved = contact != subscription.contact(escalation.step - 1)
                escalation.step += 1
                escalation.next_at = now + subscription.escalate_after_s
                await self.save_escalation(escalation)
                self._send("escalated" if moved else "reminder", subscription, incident, contact)
                continue
            else:
                escalation.next_at = None  # the ladder is spent; the incident stays listed
            await self.save_escalation(escalation)
            self._escalations[key] = escalation

    # -- sending ----------------------------------------------------------------------------

    def _send(
        self, kind: str, subscription: Subscription, incident: Incident, *contacts: str
    ) -> None:
        members = self._alerts.get(incident.id, {}).values()
        worst_first = tuple(sorted(members, key=lambda a: (-a.severity.rank, a.opened_at)))
        changes = tuple(self._changes.pop((subscription.id, incident.id), ()))
        for contact in contacts:
            draft = Draft(
                notice_id=uuid.uuid4().hex,
                kind=kind,
                subscription=subscription,
                incident=incident,
                alerts=worst_first,
                changes=changes,
                contact=contact,
            )
            self._worker(subscription.id).put_nowait(draft)

    def _worker(self, subscription_id: str) -> asyncio.Queue[Draft]:
        outbox = self._outboxes.get(subscription_id)
        if outbox is None:
            outbox = self._outboxes[subscription_id] = asyncio.Queue()
        if subscription_id not in self._workers and self._tasks:
            self._workers[subscription_id] = asyncio.create_task(
                self._deliver_forever(outbox), name=f"dispatch-{subscription_id}"
            )
        return outbox

    async def _deliver_forever(self, outbox: asyncio.Queue[Draft]) -> None:
        while True:
            draft = await outbox.get()
            try:
                notifier = self.notifiers.get(draft.subscription.channel)
                if notifier is None:
                    log.warning("no %s notifier configured", draft.subscription.channel)
                    continue
                notice = await self.compose(draft)
                await notifier.deliver(notice, draft.contact, draft.subscription)
            except Exception:  # a notice that cannot be made or sent must not stop the next
                log.exception("delivering %s notice %s failed", draft.kind, draft.notice_id)
            finally:
                outbox.task_done()


def _describe(alert: Alert, action: AlertAction, actor: str, note: str, t: float) -> str:
    when = time.strftime("%H:%M:%S UTC", time.gmtime(t))
    who = "" if actor == "system" else f" by {actor}"
    said = f": {note}" if note else ""
    return f"{when} {alert.sensor_id} {rule_words(alert.rule_id)}: {action}{who}{said}"
