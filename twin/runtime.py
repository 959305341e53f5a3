"""Running the twin as one process: broker (optional), store, ingest, simulator and API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import uvicorn

from data import Store, open_store
from sensors.mqtt import MqttEndpoint
from sensors.senml import Limits
from sensors.simulator import SCENARIOS, SimClock, Simulator, default_start
from twin.alerting import NoticeSettings, alert_workflow, smtp_from_url
from twin.app import create_app
from twin.context import TwinContext
from twin.pipeline import Pipeline
from twin.settings import StartupError, TwinOptions

if TYPE_CHECKING:
    from twin.broker import BrokerAccounts

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    # The twin owns Ctrl-C so that one signal stops every part in order; uvicorn's own
    # handler would re-raise the signal after it stops and cut our shutdown short.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_api(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit:  # uvicorn exits when it cannot bind; the caller reports it
        return


async def run_twin(
    options: TwinOptions,
    *,
    announce: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGINT/SIGTERM or ``stop`` is set (or cancellation), then stop everything
    cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with AsyncExitStack() as stack:
            accounts = None
            if options.mqtt_url is None:
                from twin.broker import BrokerAccounts, embedded_broker
                from twin.broker_config import SERVICE_USER, new_password

                service_password = new_password()
                accounts = BrokerAccounts(service_password)
                await stack.enter_async_context(
                    embedded_broker(options.mqtt_host, options.mqtt_port, accounts)
                )
                endpoint = MqttEndpoint(
                    options.mqtt_host,
                    options.mqtt_port,
                    username=SERVICE_USER,
                    password=service_password,
                )
            else:
                endpoint = MqttEndpoint.from_url(options.mqtt_url)
            store = await stack.enter_async_context(open_store(f"sqlite:///{options.db}"))
            await _serve(options, endpoint, store, stop, announce, accounts)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _notice_settings(options: TwinOptions, endpoint: MqttEndpoint, api: str) -> NoticeSettings:
    smtp = None
    if options.smtp_url:
        try:
            smtp = smtp_from_url(options.smtp_url)
        except ValueError as exc:
            raise StartupError(f"--smtp-url: {exc}") from None
    return NoticeSettings(
        public_url=options.public_url or api,
        mqtt_host=endpoint.host,
        mqtt_port=endpoint.port,
        mqtt_username=endpoint.username,
        mqtt_password=endpoint.password,
        mqtt_client_id=f"twin-alerts-{options.port}",
        smtp=smtp,
    )


async def access_lines(
    options: TwinOptions,
    store: Store,
    api: str,
    mqtt_url: str,
    device_passwords: Mapping[str, str],
) -> list[str]:
    """The demo's admin token (new each start) and where it is written; for `twin serve`,
    how to make a token when there is none."""
    if options.demo_credentials:
        from twin.credentials import write_demo_credentials

        path, token = await write_demo_credentials(
            store,
            options.db.parent,
            api_url=api,
            mqtt_url=mqtt_url,
            now=time.time(),
            devices=device_passwords,
        )
        return [
            f"Token      {token}   (admin; also in {path}, mode 0600)",
            f"Browser    {api}/viewer?token={token}",
        ]
    if not any(t.active for t in await store.tokens()):
        return [
            "Tokens     none yet: every API call needs one; make one with "
            f"`twin tokens add NAME --role admin --db {options.db}`",
        ]
    return []


async def _follow_devices(store: Store, accounts: BrokerAccounts, every_s: float = 5.0) -> None:
    """Keep the embedded broker's accounts as `twin devices add/revoke` leave the store."""
    while True:
        await asyncio.sleep(every_s)
        try:
            accounts.load(await store.devices())
        except Exception as exc:  # the store may be busy or down: try again later
            log.warning("could not refresh the broker's device accounts: %s", exc)


async def _serve(
    options: TwinOptions,
    endpoint: MqttEndpoint,
    store: Store,
    stop: asyncio.Event,
    announce: Callable[[str], None],
    accounts: BrokerAccounts | None = None,
) -> None:
    from models.nanjing import load_nanjing

    started = time.time()
    clock = SimClock(
        options.start if options.start is not None else default_start(started),
        options.speed if options.simulate else 1.0,
    )
    now = clock.now if options.simulate else time.time
    pipeline = await Pipeline.open(store)
    mesh, building = await asyncio.to_thread(load_nanjing)
    await pipeline.add_building(building)
    device_passwords: dict[str, str] = {}
    if accounts is not None:  # the embedded broker: the demo's devices get accounts too
        from twin.credentials import demo_device_passwords

        device_passwords = await demo_device_passwords(store, building, time.time())
        accounts.load(await store.devices())
    # An accelerated clock runs behind the wall clock while it catches up; a device stamping
    # wall-clock time is then "ahead" of the twin by up to a day, which is not an error here.
    limits = Limits(max_future_s=2 * 86_400.0) if options.simulate else Limits()
    ingest = pipeline.ingest(
        endpoint,
        spool_dir=options.db.parent / "spool",
        clock=now,
        limits=limits,
        client_id=f"twin-ingest-{options.port}",
        # The embedded broker (amqtt) speaks MQTT 3.1.1 only.
        mqtt5=options.mqtt_url is not None,
    )
    context = TwinContext(
        store=store,
        pipeline=pipeline,
        clock=now,
        broker_connected=ingest.connected.is_set,
        ingest=ingest,
        mqtt_url=endpoint.url,
        meshes={building.model: mesh},
        meshes_dir=options.db.parent / "meshes",  # registered buildings' models, beside the db
    )
    api = f"http://{options.host}:{options.port}"
    access = await access_lines(options, store, api, endpoint.url, device_passwords)
    server = _Server(
        uvicorn.Config(
            create_app(context, cors_origins=options.cors_origins),
            host=options.host,
            port=options.port,
            log_level="warning",
            # Ctrl-C should not wait on a slow snapshot or an open viewer connection.
            timeout_graceful_shutdown=5,
        )
    )
    ingest_task = asyncio.create_task(ingest.run(), name="ingest")
    # On an accelerated clock, devices' messages of one simulated moment arrive up to a
    # simulator tick apart, which is many simulated minutes at high speed: the silent-device
    # watchdogs judge two wall-clock seconds in the past so that spread is not "silence".
    slack_s = 2.0 * clock.speed if options.simulate else 0.0
    watchdog = pipeline.watch_clock(lambda: now() - slack_s)
    tasks = [ingest_task, asyncio.create_task(watchdog, name="watchdog")]
    if accounts is not None:
        tasks.append(asyncio.create_task(_follow_devices(store, accounts), name="accounts"))
    viewers = AsyncExitStack()
    try:
        try:
            await asyncio.wait_for(ingest.connected.wait(), timeout=30)
        except TimeoutError:
            raise StartupError(
                f"cannot reach the MQTT broker at {endpoint.url} within 30 s: is it running?"
            ) from None
        if options.simulate:
            scenarios = [SCENARIOS[name](building, clock.start) for name in options.scenarios]
            simulator = Simulator(
                building,
                endpoint,
                clock,
                scenarios=scenarios,
                credentials=device_passwords or None,
            )
            tasks.append(asyncio.create_task(simulator.run(), name="simulator"))
        # Notices run before the API serves, so no subscription made through it is missed.
        await viewers.enter_async_context(
            alert_workflow(context, _notice_settings(options, endpoint, api))
        )
        server_task = asyncio.create_task(_serve_api(server), name="api")
        tasks.append(server_task)
        while not server.started and not server_task.done():  # noqa: ASYNC110 - a flag only
            await asyncio.sleep(0.05)
        if server_task.done():
            raise StartupError(
                f"the API cannot listen on {options.host}:{options.port} (in use?): "
                "pass --port with a free port"
            )
        from twin.web_viewer import web_viewer

        await viewers.enter_async_context(web_viewer(context, options.host))
        announce(f"API        {api}/api/v1/buildings   (docs: {api}/docs)")
        announce(f"Viewer     {api}/viewer   (district: {api}/viewer/district)")
        for line in access:
            announce(line)
        announce(f"Snapshot   {api}/api/v1/buildings/{building.id}/snapshot.png?metric=laeq")
        announce(
            f"MQTT       {endpoint.url}   (publish to twin/v1/devices/<device>/readings"
            + (", as the device: passwords in the credentials file)" if accounts else ")")
        )
        announce(f"Alerts     {api}/api/v1/incidents   (live: {api}/api/v1/stream)")
        if options.simulate:
            announce(
                f"Simulator  {len(building.sensors)} sensors at {clock.speed:g}x from "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(clock.start))}"
            )
        announce("Press Ctrl-C to stop.")
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        for task in done - {stopping}:
            # A part ended on its own: report why instead of running half a twin.
            if not task.cancelled() and task.exception() is not None:
                raise StartupError(f"{task.get_name()} stopped: {task.exception()!r}")
        announce("Stopping...")
        server.should_exit = True
        await server_task
    finally:
        await viewers.aclose()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
