"""The web viewer wired to a running twin: its store as the data source, served beside the API.

trame serves its own aiohttp app (HTTP and the websocket), so it runs in the twin's event
loop on a second loopback port; the API's ``/viewer`` redirects there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from models.access import Role
from models.types import Building, Reading
from twin.auth import AccessDenied, authorize
from twin.frames import live_frame, load_replay

if TYPE_CHECKING:
    import trimesh

    from alerts.manager import AlertChange
    from twin.context import TwinContext
    from viewer.replay import Replay
    from viewer.state import Frame
    from viewer.web import WebViewer


class StoreViewerSource:
    """The viewer's :class:`viewer.web.ViewerSource` over the twin's store and clock."""

    def __init__(self, context: TwinContext) -> None:
        self.context = context

    async def buildings(self) -> list[Building]:
        return await self.context.store.buildings()

    async def mesh(self, building: Building) -> trimesh.Trimesh:
        return await asyncio.to_thread(self.context.mesh, building.model)

    async def live_frame(self, building: Building, metric: str) -> Frame:
        return await live_frame(self.context.store, building, metric, self.context.clock())

    async def replay(self, building: Building, start: float, end: float) -> Replay:
        return await load_replay(self.context.store, building, start, end)

    async def readings(self, channel_id: str, start: float, end: float) -> list[Reading]:
        return await self.context.store.readings(channel_id, start, end, limit=100_000)

    def now(self) -> float:
        return self.context.clock()


@asynccontextmanager
async def web_viewer(context: TwinContext, host: str, port: int = 0) -> AsyncIterator[WebViewer]:
    """Serve the web viewer on ``host:port`` for the life of the block; ``context.viewer``
    points at it meanwhile."""
    from viewer.web import WebViewer

    async def gate(headers: Mapping[str, str]) -> str | None:
        # The browser arrives from the API's /viewer with the token cookie it set (cookies
        # go to every port of a host); a script may send the bearer header instead.
        try:
            await authorize(context.store, headers, Role.VIEWER)
        except AccessDenied as exc:
            return exc.detail
        return None

    viewer = WebViewer(StoreViewerSource(context), gate=gate)
    await viewer.start(host, port)
    context.viewer = viewer

    def pushed(change: AlertChange) -> None:
        viewer.refresh_soon()  # alert changes are pushed, readings polled every refresh_s

    listeners = context.pipeline.alerts.listeners
    listeners.append(pushed)
    try:
        yield viewer
    finally:
        listeners.remove(pushed)
        context.viewer = None
        await viewer.stop()
