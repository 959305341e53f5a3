"""Wiring notices into a running twin: notifiers and the dispatcher.

The alert manager lives in the pipeline; here its changes are handed to the dispatcher
(the live hub hears them from the context), which gets its notifiers and
learns how to compose a notice: the building from the pipeline, the links from the API's
public URL, and for e-mail a snapshot of the building with the sensor marked.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from alerts.dispatch import Dispatcher, Draft
from alerts.email_notify import EmailNotifier, SmtpSettings
from alerts.message import Links, compose_notice
from alerts.mqtt_notify import MqttNotifier
from alerts.notice import Notice
from alerts.notifiers import Notifier
from alerts.webhook import WebhookNotifier
from models.alerting import ChannelType, Delivery, IncidentState
from models.types import SensorKind
from twin.context import TwinContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoticeSettings:
    """Where notices link to and how they leave the twin."""

    public_url: str  # the API as people outside reach it, for the links in notices
    mqtt_host: str
    mqtt_port: int
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)
    mqtt_client_id: str = "twin-alerts"  # one per twin process on a shared broker
    smtp: SmtpSettings | None = None


def smtp_from_url(url: str) -> SmtpSettings:
    """``smtp://[user:password@]host[:port]?from=twin@example.org[&starttls=1]``, or
    ``smtps://`` for TLS from the start."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"{url!r} is not smtp://host:port?from=address or smtps://...")
    query = parse_qs(parts.query)
    sender = query.get("from", [""])[0]
    if "@" not in sender:
        raise ValueError(f"{url!r} needs ?from=address (the sender of alert mail)")
    return SmtpSettings(
        host=parts.hostname,
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        sender=sender,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
        use_tls=parts.scheme == "smtps",
    )


def snapshot_metric(channel_metric: str) -> str:
    """The colour scale a notice's snapshot uses for an alert on ``channel_metric``."""
    from viewer.scales import SCALES

    base = channel_metric.split("_", 1)[0]  # ppv_z, rms_z -> ppv; f1_z -> f1
    base = "ppv" if base == "rms" else base
    return base if base in SCALES else "t"


class NoticeComposer:
    """Turns a dispatcher's draft into a notice, rendering the snapshot for e-mail only."""

    def __init__(self, context: TwinContext, public_url: str) -> None:
        self.context = context
        self.links = Links(public_url.rstrip("/"))

    async def __call__(self, draft: Draft) -> Notice:
        incident = draft.incident
        building = self.context.pipeline.watched(incident.building_id)
        if building is None:
            building = await self.context.store.building(incident.building_id)
        if building is None:
            raise LookupError(f"incident {incident.id} names unknown building")
        lead = draft.alerts[0] if draft.alerts else None
        metric = snapshot_metric(lead.channel_id.rsplit("/", 1)[-1]) if lead else "t"
        png = None
        if draft.subscription.channel is ChannelType.EMAIL and lead is not None:
            png = await self._snapshot(building.id, lead.sensor_id, metric)
        return compose_notice(
            notice_id=draft.notice_id,
            kind=draft.kind,
            subscription=draft.subscription,
            building=building,
            incident=incident,
            alerts=draft.alerts or (),
            changes=draft.changes,
            links=self.links,
            snapshot_metric=metric,
            snapshot_png=png,
        )

    async def _snapshot(self, building_id: str, sensor_id: str, metric: str) -> bytes | None:
        from twin.snapshots import building_snapshot

        try:
            return await building_snapshot(self.context, building_id, metric, highlight=sensor_id)
        except Exception as exc:  # a mail without its picture beats no mail
            log.warning("no snapshot for the notice on %s: %s", sensor_id, exc)
            return None


@asynccontextmanager
async def alert_workflow(
    context: TwinContext, settings: NoticeSettings
) -> AsyncIterator[Dispatcher]:
    """Run notices and the live stream for ``context`` until the block ends."""
    store, manager = context.store, context.pipeline.alerts

    async def record(delivery: Delivery) -> None:
        context.notices.count(delivery.channel.value, delivery.ok)
        try:
            await store.write_deliveries([delivery])
        except Exception as exc:  # the log must not stop a notice going out
            log.warning("delivery log write failed: %s", exc)

    def kind_of(building_id: str, sensor_id: str) -> SensorKind | None:
        sensor = context.pipeline.sensor(building_id, sensor_id)
        return sensor.kind if sensor else None

    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient())
        notifiers: dict[ChannelType, Notifier] = {
            ChannelType.WEBHOOK: WebhookNotifier(http, record),
            ChannelType.MQTT: await stack.enter_async_context(
                MqttNotifier(
                    settings.mqtt_host,
                    settings.mqtt_port,
                    record,
                    username=settings.mqtt_username,
                    password=settings.mqtt_password,
                    client_id=settings.mqtt_client_id,
                )
            ),
        }
        if settings.smtp is not None:
            notifiers[ChannelType.EMAIL] = EmailNotifier(settings.smtp, record)
        dispatcher = Dispatcher(
            notifiers=notifiers,
            compose=NoticeComposer(context, settings.public_url),
            kind_of=kind_of,
            clock=context.clock,
            save_escalation=store.save_escalation,
            delete_escalation=store.delete_escalation,
        )
        dispatcher.restore(
            await store.subscriptions(),
            await store.escalations(),
            await store.incidents(state=IncidentState.OPEN, limit=1_000_000),
            await context.pipeline.unresolved_alerts(),
        )
        await stack.enter_async_context(dispatcher)
        manager.listeners.append(dispatcher.submit)
        context.dispatcher = dispatcher
        try:
            yield dispatcher
        finally:
            context.dispatcher = None
            manager.listeners.remove(dispatcher.submit)
