"""`twin ingest`: ingest, detection, alerts and notices as a process of its own, no API."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from alerts.dispatch import Dispatcher
from data import open_store
from sensors.mqtt import MqttEndpoint
from twin.alerting import NoticeSettings, alert_workflow, smtp_from_url
from twin.context import TwinContext
from twin.pipeline import Pipeline
from twin.settings import StartupError

log = logging.getLogger(__name__)

REGISTRY_REFRESH_S = 10.0
# Every batch allocates tens of thousands of short-lived readings; with Python's default
# threshold (700) the collector would run dozens of times per batch.
GC_THRESHOLDS = (100_000, 50, 100)
GIL_SWITCH_INTERVAL_S = 0.0005


def _settle_heap() -> None:
    """Keep the cyclic garbage collector off the hot path: what start-up loaded (rules,
    registry, detectors) is frozen out of every collection, and young collections run
    every 100,000 allocations instead of 700. Batched ingest, 15 s phases of `twin bench
    ingest`'s workload, three runs each, alternating: median 164,703 readings/s with this,
    134,453 without."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _share_the_gil() -> None:
    """Hand the GIL over every 0.5 ms instead of 5. The PostgreSQL writer thread needs it
    briefly between its many waits on the socket; at 5 ms it queued behind the event loop's
    judging after each wait, and the database sat idle. Batched ingest, 15 s phases, three
    runs each, alternating: median 204,627 readings/s with this, 183,004 without."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


async def run_ingest(
    database_url: str,
    mqtt_url: str,
    *,
    client_id: str,
    share_group: str | None,
    spool_dir: Path,
    spool_max_bytes: int,
    smtp_url: str | None = None,
    public_url: str = "http://127.0.0.1:8000",
    detect: bool = True,
    announce: Callable[[str], None] = print,
) -> None:
    """Consume readings into the store, judge them and send the notices they call for,
    until SIGINT/SIGTERM. ``detect=False`` only stores them (for `twin bench ingest`)."""
    endpoint = MqttEndpoint.from_url(mqtt_url)
    try:
        smtp = smtp_from_url(smtp_url) if smtp_url else None
    except ValueError as exc:
        raise StartupError(f"--smtp-url: {exc}") from None
    notices = NoticeSettings(
        public_url=public_url,
        mqtt_host=endpoint.host,
        mqtt_port=endpoint.port,
        mqtt_username=endpoint.username,
        mqtt_password=endpoint.password,
        mqtt_client_id=f"{client_id}-alerts",
        smtp=smtp,
    )
    async with open_store(database_url) as store, AsyncExitStack() as stack:
        pipeline = await Pipeline.open(store)
        _settle_heap()
        _share_the_gil()
        if not pipeline.registry():
            log.warning("no buildings registered yet: every reading is refused until one is")
        ingest = pipeline.ingest(
            endpoint,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            client_id=client_id,
            share_group=share_group,
        )
        if not detect:
            ingest.after_store = None  # no detectors, hence no alerts from readings
        context = TwinContext(
            store=store,
            pipeline=pipeline,
            clock=time.time,
            broker_connected=ingest.connected.is_set,
            ingest=ingest,
        )
        dispatcher = await stack.enter_async_context(alert_workflow(context, notices))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(ingest.run(), name="ingest")
        refresh = asyncio.create_task(_refresh_registry(pipeline, dispatcher), name="registry")
        watchdog = asyncio.create_task(pipeline.watch_clock(time.time), name="watchdog")
        try:
            try:
                await asyncio.wait_for(ingest.connected.wait(), timeout=30)
            except TimeoutError:
                raise StartupError(
                    f"cannot reach the MQTT broker at {endpoint.url} within 30 s: is it running?"
                ) from None
            announce(
                f"Ingesting from {endpoint.url} as {client_id}"
                + (f" (shared group {share_group})" if share_group else "")
                + f", {len(pipeline.registry())} channels, spool {spool_dir}"
                + ("" if detect else ", detection off")
            )
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([stopping, task], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise StartupError(f"ingest stopped: {task.exception()!r}")
        finally:
            for t in (task, refresh, watchdog):
                t.cancel()
            await asyncio.gather(task, refresh, watchdog, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        c = ingest.counters
        announce(
            f"Stopped: {c.messages} messages, {c.stored} readings stored, "
            f"{sum(c.rejected.values())} records refused, {ingest.spool.depth} segments spooled"
        )


async def _refresh_registry(pipeline: Pipeline, dispatcher: Dispatcher) -> None:
    """Pick up buildings and subscriptions made after start (by the API process)."""
    known: set[str] = {s.id for s in await pipeline.store.subscriptions()}
    while True:
        await asyncio.sleep(REGISTRY_REFRESH_S)
        try:
            for building in await pipeline.store.buildings():
                if pipeline.watched(building.id) != building:
                    pipeline.watch(building)
            subscriptions = await pipeline.store.subscriptions()
            for subscription in subscriptions:
                dispatcher.put_subscription(subscription)
            for gone in known - {s.id for s in subscriptions}:
                dispatcher.remove_subscription(gone)
            known = {s.id for s in subscriptions}
        except Exception as exc:
            log.warning("could not refresh the registry: %s", exc)
