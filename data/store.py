"""The `Store` protocol every backend implements, and `open_store` choosing one by URL."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from models.types import Alert, AlertState, Building, DeadLetter, Reading


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message says why."""


class UnknownChannelError(StoreError):
    """A reading names a channel the registry does not know."""


class Store(Protocol):
    """Async storage of the registry, readings, alerts and dead letters."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

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

    async def latest(self, building_id: str) -> dict[str, Reading]:
        """The newest reading of every channel of a building that has one."""
        ...

    async def save_alert(self, alert: Alert) -> None: ...

    async def alerts(
        self,
        *,
        building_id: str | None = None,
        state: AlertState | None = None,
        limit: int = 500,
    ) -> list[Alert]:
        """Alerts, newest first."""
        ...

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """Rejected input, newest first."""
        ...


def open_store(url: str) -> Store:
    """Return an (unopened) store for ``sqlite:///path`` URLs; use it with ``async with``."""
    if url.startswith("sqlite:///"):
        from data.sqlite import SqliteStore

        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        raise StoreError("the PostgreSQL store is not built yet: use sqlite:///var/twin.db")
    raise StoreError(f"unsupported database URL {url!r}: use sqlite:///path/to/twin.db")
