"""The `Store` protocol every backend implements, and `open_store` choosing one by URL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from models.access import ApiToken, DeviceCredential
from models.alerting import (
    AlertEvent,
    Delivery,
    Escalation,
    Incident,
    IncidentState,
    Subscription,
)
from models.types import Alert, AlertState, Building, DeadLetter, Reading, WaveformBlock


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message says why."""


class UnknownChannelError(StoreError):
    """A reading names a channel the registry does not know."""


WAVEFORM_RETENTION_S = 30 * 86_400.0


class Bucket(StrEnum):
    """Width of the time buckets a range query summarises readings into."""

    RAW = "raw"
    MINUTE = "1m"
    HOUR = "1h"

    @property
    def seconds(self) -> float:
        return {Bucket.RAW: 0.0, Bucket.MINUTE: 60.0, Bucket.HOUR: 3600.0}[self]

    @classmethod
    def for_range(cls, start: float, end: float) -> Bucket:
        """Raw up to six hours, minutes up to a week, hours beyond: a chart stays a few
        thousand points wide whatever range it shows."""
        span = end - start
        if span <= 6 * 3600:
            return cls.RAW
        if span <= 7 * 86_400:
            return cls.MINUTE
        return cls.HOUR


@dataclass(frozen=True, slots=True)
class Summary:
    """Readings of one bucket: its start time, count, mean, min and max (raw: one reading)."""

    time: float
    count: int
    mean: float
    min: float
    max: float


class Store(Protocol):
    """Async storage of the registry, readings, alerts and dead letters."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def ping(self) -> None:
        """Raise unless the database answers (a cheap round trip, for health checks)."""
        ...

    async def put_building(self, building: Building) -> None:
        """Insert or replace a building with its sensors and channels."""
        ...

    async def buildings(self) -> list[Building]: ...

    async def building(self, building_id: str) -> Building | None: ...

    async def write_readings(self, readings: Sequence[Reading]) -> int:
        """Store readings; a repeated (channel, time) is a no-op. Returns how many were new."""
        ...

    async def readings(
        self, channel_id: str, start: float, end: float, *, limit: int = 10_000
    ) -> list[Reading]:
        """Readings of one channel with ``start <= time < end``, oldest first."""
        ...

    async def series(
        self, channel_id: str, start: float, end: float, bucket: Bucket, *, limit: int = 10_000
    ) -> list[Summary]:
        """Readings of one channel with ``start <= time < end`` summarised per bucket."""
        ...

    async def write_waveforms(self, blocks: Sequence[WaveformBlock]) -> int:
        """Store raw blocks; a repeated (sensor, axis, t0) is a no-op. Returns how many were new."""
        ...

    async def waveforms(
        self, sensor_id: str, start: float, end: float, *, limit: int = 100
    ) -> list[WaveformBlock]:
        """Raw blocks of one sensor with ``start <= t0 < end``, oldest first."""
        ...

    async def prune_waveforms(self, before: float) -> int:
        """Drop raw blocks that started before ``before``; they have a shorter retention than
        the readings derived from them. Returns how many went."""
        ...

    async def latest(self, building_id: str) -> dict[str, Reading]:
        """The newest reading of every channel of a building that has one."""
        ...

    async def save_alert(
        self,
        alert: Alert,
        events: Sequence[AlertEvent] = (),
        incident: Incident | None = None,
    ) -> None:
        """Insert or replace an alert, append its events and insert or replace its incident,
        all in one transaction."""
        ...

    async def alert(self, alert_id: str) -> Alert | None: ...

    async def alerts(
        self,
        *,
        building_id: str | None = None,
        state: AlertState | None = None,
        incident_id: str | None = None,
        sensor_id: str | None = None,
        rule_id: str | None = None,
        limit: int = 500,
    ) -> list[Alert]:
        """Alerts, newest first."""
        ...

    async def alert_events(
        self, alert_id: str | None = None, *, since: float | None = None, limit: int = 1000
    ) -> list[AlertEvent]:
        """The audit trail of one alert (or of all, from ``since``), oldest first, in the
        order they were saved."""
        ...

    async def incident(self, incident_id: str) -> Incident | None: ...

    async def incidents(
        self,
        *,
        building_id: str | None = None,
        state: IncidentState | None = None,
        limit: int = 500,
    ) -> list[Incident]:
        """Incidents, newest first."""
        ...

    async def put_subscription(self, subscription: Subscription) -> None:
        """Insert or replace a subscription."""
        ...

    async def subscription(self, subscription_id: str) -> Subscription | None: ...

    async def subscriptions(self) -> list[Subscription]:
        """Every subscription, ordered by name then id."""
        ...

    async def delete_subscription(self, subscription_id: str) -> bool:
        """Remove a subscription and its escalations; False if there was none."""
        ...

    async def write_deliveries(self, deliveries: Sequence[Delivery]) -> None: ...

    async def deliveries(
        self,
        *,
        subscription_id: str | None = None,
        incident_id: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """The delivery log, newest first."""
        ...

    async def save_escalation(self, escalation: Escalation) -> None:
        """Insert or replace where a subscription stands with an incident."""
        ...

    async def escalations(self) -> list[Escalation]:
        """Every escalation kept, for taking them back after a restart."""
        ...

    async def delete_escalation(self, subscription_id: str, incident_id: str) -> None: ...

    async def put_token(self, token: ApiToken) -> None:
        """Insert or replace an API token's record (its secret only as a hash)."""
        ...

    async def token(self, token_id: str) -> ApiToken | None: ...

    async def tokens(self) -> list[ApiToken]:
        """Every token, revoked ones included, oldest first."""
        ...

    async def put_device(self, device: DeviceCredential) -> None:
        """Insert or replace a device's broker credential (its password only as a hash)."""
        ...

    async def device(self, device_id: str) -> DeviceCredential | None: ...

    async def devices(self) -> list[DeviceCredential]:
        """Every device credential, revoked ones included, ordered by device id."""
        ...

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...

    async def dead_letters(
        self, *, reason: str | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        """Rejected input, newest first."""
        ...

    async def dead_letter_counts(self) -> dict[str, int]:
        """How many messages or records were refused, per reason."""
        ...


def is_outage(exc: BaseException) -> bool:
    """Whether a store error means "down for now" (spool and retry later) rather than "this
    batch is refused" (set it aside): connections lost, timeouts, a locked or full disk."""
    import sqlite3

    import psycopg

    return isinstance(
        exc,
        OSError
        | TimeoutError
        | sqlite3.OperationalError
        | psycopg.OperationalError
        | psycopg.InterfaceError,
    )


def open_store(url: str) -> Store:
    """An (unopened) store for ``sqlite:///path`` or ``postgresql://...``; use ``async with``."""
    if url.startswith("sqlite:///"):
        from data.sqlite import SqliteStore

        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from data.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreError(
        f"unsupported database URL {url!r}: use sqlite:///path/to/twin.db "
        "or postgresql://user@host:5432/dbname"
    )
