"""JSON shapes of the alert workflow: events, incidents, actions, subscriptions, deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from models.alerting import AlertEvent, ChannelType, Delivery, Incident, Subscription
from models.types import SensorKind, Severity
from twin.schemas import AlertPublic, iso

Person = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        description="the person acting, when a shared token acts for them (the audit trail "
        "names the token and notes 'for <by>'); default: the token's name",
        examples=["li.wei"],
    ),
]
Note = Annotated[str, Field(max_length=2000, description="free text for the audit trail")]


class AlertEventPublic(BaseModel):
    alert_id: str
    incident_id: str
    building_id: str
    time: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    severity: str
    note: str

    @classmethod
    def of(cls, e: AlertEvent) -> AlertEventPublic:
        return cls(
            alert_id=e.alert_id,
            incident_id=e.incident_id,
            building_id=e.building_id,
            time=iso(e.time),
            actor=e.actor,
            action=e.action.value,
            from_state=e.from_state.value if e.from_state else None,
            to_state=e.to_state.value,
            severity=e.severity.value,
            note=e.note,
        )


class AlertDetail(BaseModel):
    """One alert with its whole audit trail, oldest event first."""

    alert: AlertPublic
    events: list[AlertEventPublic]


class IncidentPublic(BaseModel):
    id: str
    building_id: str
    zone: str
    state: str
    severity: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, i: Incident) -> IncidentPublic:
        return cls(
            id=i.id,
            building_id=i.building_id,
            zone=i.zone,
            state=i.state.value,
            severity=i.severity.value,
            opened_at=iso(i.opened_at),
            updated_at=iso(i.updated_at),
            resolved_at=iso(i.resolved_at) if i.resolved_at is not None else None,
        )


class IncidentDetail(BaseModel):
    incident: IncidentPublic
    alerts: list[AlertPublic]


class ActionRequest(BaseModel):
    """Acknowledge, resolve or unshelve: who, and an optional note."""

    by: Person | None = None
    note: Note = ""


class ShelveRequest(BaseModel):
    by: Person | None = None
    note: Note = ""
    minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60, description="how long to shelve")]


class NoteRequest(BaseModel):
    by: Person | None = None
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class SubscriptionCreate(BaseModel):
    """Who hears about what. ``contacts`` is the escalation ladder: webhook URLs, e-mail
    addresses or MQTT topics (empty string: ``twin/v1/buildings/{id}/alerts``)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    channel: ChannelType
    contacts: Annotated[
        list[Annotated[str, Field(max_length=500)]], Field(min_length=1, max_length=20)
    ]
    building_id: str | None = None
    min_severity: Severity = Severity.WARNING
    kinds: list[SensorKind] = []
    escalate_after_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] = 900.0
    max_reminders: Annotated[int, Field(ge=0, le=100)] = 3
    secret: Annotated[
        str, Field(max_length=200, description="webhook HMAC-SHA256 key; required for webhooks")
    ] = ""
    enabled: bool = True

    def to_subscription(self, subscription_id: str) -> Subscription:
        """Raises ValueError with the reason when the combination makes no sense."""
        return Subscription(
            id=subscription_id,
            name=self.name,
            channel=self.channel,
            contacts=tuple(self.contacts),
            building_id=self.building_id,
            min_severity=self.min_severity,
            kinds=tuple(self.kinds),
            escalate_after_s=self.escalate_after_s,
            max_reminders=self.max_reminders,
            secret=self.secret,
            enabled=self.enabled,
        )


class SubscriptionPublic(BaseModel):
    """A subscription as the API shows it: the webhook secret is never sent back."""

    id: str
    name: str
    channel: ChannelType
    contacts: list[str]
    building_id: str | None
    min_severity: Severity
    kinds: list[SensorKind]
    escalate_after_s: float
    max_reminders: int
    has_secret: bool
    enabled: bool

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionPublic:
        return cls(
            id=s.id,
            name=s.name,
            channel=s.channel,
            contacts=list(s.contacts),
            building_id=s.building_id,
            min_severity=s.min_severity,
            kinds=list(s.kinds),
            escalate_after_s=s.escalate_after_s,
            max_reminders=s.max_reminders,
            has_secret=bool(s.secret),
            enabled=s.enabled,
        )


class DeliveryPublic(BaseModel):
    time: datetime
    subscription_id: str
    incident_id: str
    channel: str
    contact: str
    notice: str
    attempt: int
    ok: bool
    detail: str

    @classmethod
    def of(cls, d: Delivery) -> DeliveryPublic:
        return cls(
            time=iso(d.time),
            subscription_id=d.subscription_id,
            incident_id=d.incident_id,
            channel=d.channel.value,
            contact=d.contact,
            notice=d.notice,
            attempt=d.attempt,
            ok=d.ok,
            detail=d.detail,
        )
