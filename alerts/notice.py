"""A notice: one message about one incident, rendered once and sent over any channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Notice:
    """What a subscriber is told: a subject and text for people, a JSON body for machines,
    and the building snapshot with the sensor marked, when one could be rendered."""

    id: str  # unique per notice; webhooks send it so receivers can drop retried duplicates
    subscription_id: str
    incident_id: str
    building_id: str
    kind: str  # opened, severity_raised, escalated, reminder, resolved
    subject: str
    text: str
    body: dict[str, Any] = field(default_factory=dict)
    snapshot_png: bytes | None = None
