"""The live hub: alert events fanned out to every live-stream client, in process.

Each event gets a sequence number; the last ``keep`` are kept so a client whose link dropped
(a phone in a lift) reconnects with ``Last-Event-ID`` and misses nothing recent. A client
that cannot keep up loses its oldest queued events, never slows the alert manager.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alerts.manager import AlertChange
from twin.alert_schemas import AlertEventPublic, IncidentPublic
from twin.schemas import AlertPublic


@dataclass(frozen=True, slots=True)
class LiveEvent:
    seq: int
    kind: str  # the SSE event name, e.g. "alert"
    building_id: str
    data: str  # JSON


class LiveHub:
    """Fan-out of live events to subscribers' bounded queues."""

    def __init__(self, *, keep: int = 1000, max_queued: int = 1000) -> None:
        self._seq = itertools.count(1)
        self._recent: deque[LiveEvent] = deque(maxlen=keep)
        self._queues: set[asyncio.Queue[LiveEvent]] = set()
        self.max_queued = max_queued

    def publish(self, kind: str, building_id: str, payload: dict[str, Any]) -> LiveEvent:
        event = LiveEvent(next(self._seq), kind, building_id, json.dumps(payload, default=str))
        self._recent.append(event)
        for queue in self._queues:
            if queue.full():  # a slow client loses its oldest event, not everyone's time
                queue.get_nowait()
            queue.put_nowait(event)
        return event

    def alert_changed(self, change: AlertChange) -> None:
        """The alert manager's listener: one live event per transition."""
        for event in change.events:
            self.publish(
                "alert",
                change.alert.building_id,
                {
                    "event": AlertEventPublic.of(event).model_dump(mode="json"),
                    "alert": AlertPublic.of(change.alert).model_dump(mode="json"),
                    "incident": IncidentPublic.of(change.incident).model_dump(mode="json")
                    if change.incident
                    else None,
                },
            )

    def since(self, seq: int) -> list[LiveEvent]:
        """Kept events after ``seq``, oldest first."""
        return [e for e in self._recent if e.seq > seq]

    @contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[LiveEvent]]:
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(self.max_queued)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    @property
    def clients(self) -> int:
        return len(self._queues)
