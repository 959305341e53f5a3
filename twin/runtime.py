"""Running the twin as one process: broker (optional), store, ingest, simulator and API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from alerts.manager import AlertManager
from alerts.rules import load_rules
from data import Store, open_store
from models.types import AlertState
from sensors.ingest import Ingest, MqttEndpoint
from sensors.senml import Limits
from sensors.simulator import SCENARIOS, SimClock, Simulator, default_start
from twin.app import create_app
from twin.context import TwinContext
from twin.pipeline import Pipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TwinOptions:
    """How to run: where to listen, which broker and database, and the simulated clock."""

    host: str = "127.0.0.1"
    port: int = 8000
    db: Path = Path("var/twin.db")
    mqtt_url: str | None = None  # None: start the embedded broker on mqtt_host:mqtt_port
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    simulate: bool = True
    speed: float = 60.0
    start: float | None = None  # simulated start time; None: default_start(now)
    scenarios: tuple[str, ...] = tuple(SCENARIOS)


class _Server(uvicorn.Server):
    # The twin owns Ctrl-C so that one signal stops every part in order; uvicorn's own
    # handler would re-raise the signal after it stops and cut our shutdown short.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_twin(options: TwinOptions, *, announce: Callable[[str], None] = print) -> None:
    """Run until SIGINT/SIGTERM (or cancellation), then stop everything cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with AsyncExitStack() as stack:
            if options.mqtt_url is None:
                from twin.broker import embedded_broker

                await stack.enter_async_context(
                    embedded_broker(options.mqtt_host, options.mqtt_port)
                )
                endpoint = MqttEndpoint(options.mqtt_host, options.mqtt_port)
            else:
                endpoint = MqttEndpoint.from_url(options.mqtt_url)
            store = await stack.enter_async_context(open_store(f"sqlite:///{options.db}"))
            await _serve(options, endpoint, store, stop, announce)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _serve(
    options: TwinOptions,
    endpoint: MqttEndpoint,
    store: Store,
    stop: asyncio.Event,
    announce: Callable[[str], None],
) -> None:
    from models.nanjing import load_nanjing

    started = time.time()
    clock = SimClock(
        options.start if options.start is not None else default_start(started),
        options.speed if options.simulate else 1.0,
    )
    now = clock.now if options.simulate else time.time
    alerts = AlertManager(save=store.save_alert)
    alerts.restore(await store.alerts(state=AlertState.OPEN, limit=1_000_000))
    pipeline = Pipeline(store, load_rules(), alerts)
    mesh, building = await asyncio.to_thread(load_nanjing)
    await pipeline.add_building(building)
    # An accelerated clock runs behind the wall clock while it catches up; a device stamping
    # wall-clock time is then "ahead" of the twin by up to a day, which is not an error here.
    limits = Limits(max_future_s=2 * 86_400.0) if options.simulate else Limits()
    ingest = Ingest(
        endpoint,
        registry=pipeline.registry,
        on_readings=pipeline.on_readings,
        on_rejected=pipeline.on_rejected,
        clock=now,
        limits=limits,
        client_id=f"twin-ingest-{options.port}",
    )
    context = TwinContext(
        store=store,
        pipeline=pipeline,
        clock=now,
        broker_connected=ingest.connected.is_set,
        mqtt_url=endpoint.url,
        meshes={building.model: mesh},
    )
    server = _Server(
        uvicorn.Config(
            create_app(context), host=options.host, port=options.port, log_level="warning"
        )
    )
    async with asyncio.TaskGroup() as tasks:
        ingest_task = tasks.create_task(ingest.run())
        await asyncio.wait_for(ingest.connected.wait(), timeout=30)
        sim_task = None
        if options.simulate:
            scenarios = [SCENARIOS[name](building, clock.start) for name in options.scenarios]
            simulator = Simulator(building, endpoint, clock, scenarios=scenarios)
            sim_task = tasks.create_task(simulator.run())
        server_task = tasks.create_task(server.serve())
        while not server.started and not server_task.done():  # noqa: ASYNC110 - a flag only
            await asyncio.sleep(0.05)
        if server_task.done():
            raise SystemExit(f"the API could not listen on {options.host}:{options.port}")
        api = f"http://{options.host}:{options.port}"
        announce(f"API        {api}/api/v1/buildings   (docs: {api}/docs)")
        announce(f"Snapshot   {api}/api/v1/buildings/{building.id}/snapshot.png?metric=laeq")
        announce(f"MQTT       {endpoint.url}   (publish to twin/v1/devices/<device>/readings)")
        if options.simulate:
            announce(
                f"Simulator  {len(building.sensors)} sensors at {clock.speed:g}x from "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(clock.start))}"
            )
        announce("Press Ctrl-C to stop.")
        await stop.wait()
        announce("Stopping...")
        server.should_exit = True
        await server_task
        if sim_task is not None:
            sim_task.cancel()
        ingest_task.cancel()
