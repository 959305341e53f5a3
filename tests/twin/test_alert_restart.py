"""A restart in the middle of an escalation, on a real SQLite file and a real webhook server:
the ladder resumes at its next contact, nobody hears twice, the audit trail survives."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.rules import load_rules
from data import open_store
from models.alerting import ChannelType, Subscription
from models.types import AlertState, Building, Reading
from twin.alerting import NoticeSettings, alert_workflow
from twin.context import TwinContext
from twin.localservices import free_port
from twin.pipeline import Pipeline

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def webhook_server(heard: list[tuple[str, str]]) -> AsyncIterator[str]:
    """A receiver with three paths, one per rung of the ladder; notes (path, notice kind)."""

    async def hook(request: Request) -> Response:
        heard.append((request.url.path, json.loads(await request.body())["kind"]))
        return Response(status_code=200)

    port = free_port()
    app = Starlette(routes=[Route("/{who}", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag only
            await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def twin_process(db: Path, clock: Clock) -> AsyncIterator[TwinContext]:
    """What a twin process holds: store, pipeline (alerts restored) and the notices."""
    async with open_store(f"sqlite:///{db}") as store:
        pipeline = await Pipeline.open(store, load_rules())
        context = TwinContext(store=store, pipeline=pipeline, clock=clock)
        # No broker here: the MQTT notifier is never used by a webhook subscription.
        settings = NoticeSettings(public_url="http://twin.test", mqtt_host="127.0.0.1", mqtt_port=1)
        async with alert_workflow(context, settings) as dispatcher:
            dispatcher.tick_s = 0.05
            yield context


async def until(predicate: Callable[[], Any], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling what the twin delivers
            await asyncio.sleep(0.02)


async def test_a_restart_mid_escalation_resumes_the_ladder(
    tmp_path: Path, make_hall: Callable[[str], Building]
) -> None:
    clock, heard = Clock(), []
    hall = make_hall("dev-r")
    db = tmp_path / "twin.db"
    async with webhook_server(heard) as base:
        async with twin_process(db, clock) as twin:
            await twin.pipeline.add_building(hall)
            ladder = Subscription(
                id="duty",
                name="Duty ladder",
                channel=ChannelType.WEBHOOK,
                contacts=(f"{base}/first", f"{base}/second", f"{base}/third"),
                secret="k",
                escalate_after_s=600,
                max_reminders=0,
            )
            await twin.store.put_subscription(ladder)  # as the API does
            assert twin.dispatcher is not None
            twin.dispatcher.put_subscription(ladder)
            await twin.pipeline.detect([Reading("dev-r-tilt/x", NOW, 3.6)])
            await until(lambda: ("/first", "opened") in heard)
            clock.now = NOW + 600
            await until(lambda: ("/second", "escalated") in heard)
            await asyncio.sleep(0.2)
        # The process is gone; a new one opens the same file.
        clock.now = NOW + 900  # not yet due for the third rung
        async with twin_process(db, clock) as twin:
            [alert] = twin.pipeline.alerts.open_alerts()
            await asyncio.sleep(0.3)
            assert heard == [("/first", "opened"), ("/second", "escalated")]
            clock.now = NOW + 1200
            await until(lambda: len(heard) == 3)
            assert heard[2] == ("/third", "escalated")
            acked = await twin.pipeline.alerts.acknowledge(alert.id, by="li.wei", now=clock.now)
            assert acked.state is AlertState.ACKNOWLEDGED
            clock.now = NOW + 5000
            await asyncio.sleep(0.3)
            assert len(heard) == 3  # the ladder was spent, and now acknowledged
            trail = [(e.action.value, e.actor) for e in await twin.store.alert_events(alert.id)]
            assert trail == [("opened", "system"), ("acknowledged", "li.wei")]
            escalation = next(iter(await twin.store.escalations()))
            assert escalation.step == 3 and escalation.next_at is None
