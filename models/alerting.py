"""The alert workflow's records: the audit trail, incidents, subscriptions and deliveries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from models.types import AlertState, SensorKind, Severity

SYSTEM = "system"  # the actor of every transition the twin makes by itself


class AlertAction(StrEnum):
    """What happened to an alert, as its audit trail records it."""

    OPENED = "opened"
    REOPENED = "reopened"
    SEVERITY_RAISED = "severity_raised"
    SEVERITY_LOWERED = "severity_lowered"
    ACKNOWLEDGED = "acknowledged"
    SHELVED = "shelved"
    UNSHELVED = "unshelved"
    RESOLVED = "resolved"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One transition of an alert: who did what, when, from which state to which."""

    alert_id: str
    time: float
    actor: str
    action: AlertAction
    from_state: AlertState | None
    to_state: AlertState
    severity: Severity
    note: str = ""
    building_id: str = ""
    incident_id: str = ""


class IncidentState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Incident:
    """Alerts on several sensors of one structural zone within a short time, as one event."""

    id: str
    building_id: str
    zone: str
    state: IncidentState
    severity: Severity
    opened_at: float
    updated_at: float
    resolved_at: float | None = None


class ChannelType(StrEnum):
    """How a subscriber hears about alerts."""

    WEBHOOK = "webhook"
    EMAIL = "email"
    MQTT = "mqtt"


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class Subscription:
    """Who hears about what: a building (or all), a minimum severity, sensor kinds, and a
    channel with an escalation ladder of contacts.

    The first contact hears at once; while an incident stays unacknowledged the next contact
    hears ``escalate_after_s`` later, and the last one is reminded at that pace up to
    ``max_reminders`` times.
    """

    id: str
    name: str
    channel: ChannelType
    contacts: tuple[str, ...]  # webhook URLs, e-mail addresses, or MQTT topics ("" = default)
    building_id: str | None = None  # None: every building
    min_severity: Severity = Severity.WARNING
    kinds: tuple[SensorKind, ...] = ()  # empty: every kind
    escalate_after_s: float = 900.0
    max_reminders: int = 3
    secret: str = ""  # the webhook's HMAC-SHA256 key
    enabled: bool = True

    def __post_init__(self) -> None:
        if not self.contacts:
            raise ValueError("a subscription needs at least one contact")
        if self.escalate_after_s <= 0:
            raise ValueError("escalate_after_s must be positive")
        if not 0 <= self.max_reminders <= 100:
            raise ValueError("max_reminders must be between 0 and 100")
        for contact in self.contacts:
            if self.channel is ChannelType.WEBHOOK and not contact.startswith(
                ("http://", "https://")
            ):
                raise ValueError(f"webhook contact {contact!r} must be an http(s) URL")
            if self.channel is ChannelType.EMAIL and not _EMAIL.match(contact):
                raise ValueError(f"e-mail contact {contact!r} is not an address")
            if self.channel is ChannelType.MQTT and any(c in contact for c in "#+"):
                raise ValueError(f"MQTT contact {contact!r} must be a topic without wildcards")
        if self.channel is ChannelType.WEBHOOK and not self.secret:
            raise ValueError("a webhook subscription needs a secret to sign its requests")

    def contact(self, step: int) -> str:
        """The contact for escalation step ``step`` (0 = first notice)."""
        return self.contacts[min(step, len(self.contacts) - 1)]

    def hears(self, building_id: str, severity: Severity, kind: SensorKind) -> bool:
        return (
            self.enabled
            and (self.building_id is None or self.building_id == building_id)
            and severity.rank >= self.min_severity.rank
            and (not self.kinds or kind in self.kinds)
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to deliver a notice: kept whether it worked or not."""

    time: float
    subscription_id: str
    incident_id: str
    channel: ChannelType
    contact: str
    notice: str  # what the notice was: opened, escalated, reminder, severity_raised, resolved
    attempt: int
    ok: bool
    detail: str = ""  # the HTTP status, the SMTP reply or the error, in words


@dataclass(slots=True)
class Escalation:
    """Where one subscription stands with one incident: survives a restart."""

    subscription_id: str
    incident_id: str
    step: int  # notices sent so far, the first included
    next_at: float | None  # when the next one is due; None when nothing more is due
    severity: Severity  # the worst severity this subscriber has heard of
    alert_ids: tuple[str, ...] = field(default=())  # alerts this subscriber has heard of
