"""The live stream: alert events as Server-Sent Events, resumable with ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse

from models.access import Role
from twin.access import require
from twin.deps import Context
from twin.hub import LiveEvent

router = APIRouter(prefix="/api/v1", tags=["stream"], dependencies=[Depends(require(Role.VIEWER))])

KEEP_ALIVE_S = 15.0  # proxies and phones drop a silent connection; a comment keeps it open


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}},
)
async def stream(
    request: Request,
    context: Context,
    building_id: str | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Alert events as they happen (``event: alert``; data: the event, the alert and its
    incident). A client that reconnects with ``Last-Event-ID`` gets what it missed, as far
    back as the last thousand events."""
    hub = context.hub
    try:
        after = int(last_event_id) if last_event_id else None
    except ValueError:
        after = None

    def wanted(event: LiveEvent) -> bool:
        return building_id is None or event.building_id == building_id

    async def events() -> AsyncIterator[str]:
        with hub.subscribe() as queue:
            yield f"retry: 3000\n: connected, {hub.clients} client(s)\n\n"
            if after is not None:
                for event in hub.since(after):
                    if wanted(event):
                        yield _frame(event)
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), KEEP_ALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if wanted(event) and (after is None or event.seq > after):
                    yield _frame(event)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _frame(event: LiveEvent) -> str:
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {event.data}\n\n"
