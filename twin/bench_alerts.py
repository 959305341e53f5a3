"""`twin bench alerts`: from a hazardous reading published to the alert event on the live
stream and to the webhook delivered, with the demo running at full load.

The whole demo runs in this process as ``twin demo`` runs it (embedded broker unless a
broker URL is given, SQLite, the simulator at 60x with its hazard scenarios, ingest,
detection, alerts, API). A webhook receiver and a live-stream client listen beside it.
Probing starts once the simulated night-time piling raises its own alerts. Each
probe publishes one tilt reading far past the limit on one sensor and times, on this
process's monotonic clock, the first live alert event and the first webhook naming that
sensor; the probe's incident is then resolved through the API so the next one starts fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sensors.simulator import SimClock, default_start
from twin.credentials import CREDENTIALS_FILE
from twin.localservices import free_port
from twin.settings import TwinOptions

SECRET = "bench-secret"
_STARTS = ("opened", "reopened")


@dataclass
class _Probe:
    sensor_id: str
    sent: float
    event_at: float | None = None
    hook_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        if self.event_at is not None and self.hook_at is not None:
            self.done.set()


class _Listener:
    """The live-stream client and the webhook receiver, both noting the current probe."""

    def __init__(self) -> None:
        self.probe: _Probe | None = None
        self.hooks = 0
        self.events = 0
        self.demo_alert = asyncio.Event()  # the simulator's own hazards are being alerted

    async def hook(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.hooks += 1
        probe = self.probe
        if (
            probe is not None
            and probe.hook_at is None
            and body.get("kind") in (*_STARTS, "severity_raised")
            and any(a["sensor_id"] == probe.sensor_id for a in body.get("alerts", ()))
        ):
            probe.hook_at = time.perf_counter()
            probe.check()
        return Response(status_code=204)

    async def stream(self, api: httpx.AsyncClient) -> None:
        async with api.stream("GET", "/api/v1/stream", timeout=None) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                self.events += 1
                data = json.loads(line.removeprefix("data: "))
                probe = self.probe
                if probe is None:
                    self.demo_alert.set()
                    continue
                if (
                    probe.event_at is None
                    and data["alert"]["sensor_id"] == probe.sensor_id
                    and data["event"]["action"] in _STARTS
                ):
                    probe.event_at = time.perf_counter()
                    probe.check()


@contextlib.asynccontextmanager
async def _serve(app: Any, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag only
            await asyncio.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def _bench(
    probes: int,
    gap_s: float,
    mqtt_url: str | None,
    settle_s: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    from twin.runtime import run_twin

    api_port, hook_port = free_port(), free_port()
    mqtt_port = free_port()
    start = default_start(time.time())
    with tempfile.TemporaryDirectory(prefix="twin-bench-alerts-") as workdir:
        options = TwinOptions(
            port=api_port,
            db=Path(workdir) / "twin.db",
            mqtt_url=mqtt_url,
            mqtt_port=mqtt_port,
            start=start,
            speed=60.0,
        )
        clock = SimClock(start, options.speed)
        progress("starting the demo twin (embedded broker, simulator at 60x)...")
        stop = asyncio.Event()
        twin = asyncio.create_task(run_twin(options, announce=lambda line: None, stop=stop))
        listener = _Listener()
        receiver = Starlette(routes=[Route("/hook", listener.hook, methods=["POST"])])
        api_url = f"http://127.0.0.1:{api_port}"
        try:
            # The demo writes its admin token beside its database, as it does for any user.
            token = await _demo_token(Path(workdir) / CREDENTIALS_FILE, twin)
            async with (
                _serve(receiver, hook_port),
                httpx.AsyncClient(
                    base_url=api_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
                ) as api,
            ):
                building = await _wait_for_building(api, twin)
                made = await api.post(
                    "/api/v1/subscriptions",
                    json={
                        "name": "bench webhook",
                        "channel": "webhook",
                        "contacts": [f"http://127.0.0.1:{hook_port}/hook"],
                        "secret": SECRET,
                        "min_severity": "info",
                    },
                )
                made.raise_for_status()
                streaming = asyncio.create_task(listener.stream(api))
                host, port = _broker(mqtt_url, mqtt_port)
                # One tilt sensor takes every probe; its incident is resolved after each.
                sensor = next(s for s in building["sensors"] if s["kind"] == "tilt")
                written = await asyncio.to_thread((Path(workdir) / CREDENTIALS_FILE).read_text)
                # The embedded broker knows the device by its password; another broker may not.
                password = json.loads(written)["devices"].get(sensor["device_id"])
                results: list[_Probe] = []
                async with aiomqtt.Client(
                    host,
                    port,
                    username=sensor["device_id"] if password else None,
                    password=password,
                    identifier="bench-alerts-probe",
                ) as mqtt:
                    progress("waiting for the simulated night-time piling to raise alerts...")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(listener.demo_alert.wait(), settle_s)
                    for n in range(probes):
                        probe = await _probe(api, mqtt, listener, sensor, clock)
                        results.append(probe)
                        if (n + 1) % 10 == 0 or n + 1 == probes:
                            progress(f"  {n + 1}/{probes} probes")
                        await asyncio.sleep(gap_s)
                streaming.cancel()
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await streaming
                deliveries = (await api.get("/api/v1/deliveries?limit=5000")).json()
                failed = [d["detail"] for d in deliveries if not d["ok"]]
                if failed:
                    progress(f"{len(failed)} webhook attempts failed, e.g. {failed[0]}")
        finally:
            stop.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(twin, 30)
    return _summary(results, listener.hooks, listener.events)


async def _demo_token(path: Path, twin: asyncio.Task[None]) -> str:
    async with asyncio.timeout(120):
        while not await asyncio.to_thread(path.exists):
            if twin.done():
                twin.result()  # raises why the twin stopped
                raise RuntimeError("the demo twin stopped before it wrote its credentials")
            await asyncio.sleep(0.1)
    token: str = json.loads(await asyncio.to_thread(path.read_text))["admin_token"]
    return token


async def _wait_for_building(api: httpx.AsyncClient, twin: asyncio.Task[None]) -> Any:
    async with asyncio.timeout(120):
        while True:
            if twin.done():
                twin.result()  # raises why the twin stopped
                raise RuntimeError("the demo twin stopped before it served its API")
            with contextlib.suppress(httpx.HTTPError):
                buildings = (await api.get("/api/v1/buildings")).json()
                if buildings:
                    return buildings[0]
            await asyncio.sleep(0.2)


async def _probe(
    api: httpx.AsyncClient,
    mqtt: aiomqtt.Client,
    listener: _Listener,
    sensor: dict[str, Any],
    clock: SimClock,
) -> _Probe:
    probe = _Probe(sensor["id"], time.perf_counter())
    listener.probe = probe
    reading = [{"n": f"{sensor['id']}/x", "u": "mrad", "v": 25.0, "t": clock.now()}]
    probe.sent = time.perf_counter()
    await mqtt.publish(
        f"twin/v1/devices/{sensor['device_id']}/readings", json.dumps(reading), qos=1
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(probe.done.wait(), 10)
    listener.probe = None
    # Resolve what the probe opened, so the next probe on this sensor opens anew.
    alerts = (await api.get(f"/api/v1/alerts?sensor_id={sensor['id']}&state=open")).json()
    for incident_id in {a["incident_id"] for a in alerts}:
        await api.post(f"/api/v1/incidents/{incident_id}/resolve", json={"note": "bench probe"})
    return probe


def _broker(mqtt_url: str | None, embedded_port: int) -> tuple[str, int]:
    if mqtt_url is None:
        return "127.0.0.1", embedded_port
    from sensors.mqtt import MqttEndpoint

    endpoint = MqttEndpoint.from_url(mqtt_url)
    return endpoint.host, endpoint.port


def _percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _summary(probes: list[_Probe], hooks: int, stream_events: int) -> dict[str, Any]:
    events = [1000 * (p.event_at - p.sent) for p in probes if p.event_at is not None]
    webhooks = [1000 * (p.hook_at - p.sent) for p in probes if p.hook_at is not None]
    return {
        "probes": len(probes),
        "alert_events_seen": len(events),
        "webhooks_seen": len(webhooks),
        "alert_event_p50_ms": _percentile(events, 50),
        "alert_event_p99_ms": _percentile(events, 99),
        "alert_event_max_ms": max(events, default=None),
        "webhook_p50_ms": _percentile(webhooks, 50),
        "webhook_p99_ms": _percentile(webhooks, 99),
        "webhook_max_ms": max(webhooks, default=None),
        "webhooks_received_in_all": hooks,
        "alert_events_in_all": stream_events,
        "target_p99_ms": 1000.0,
    }


def bench_alerts(
    *,
    probes: int = 40,
    gap_s: float = 0.5,
    mqtt_url: str | None = None,
    settle_s: float = 120.0,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the benchmark; returns the figures (milliseconds). Probing starts when the demo
    raises its first alert, or after ``settle_s``."""
    if probes < 1:
        raise ValueError("probes must be at least 1")
    return asyncio.run(_bench(probes, gap_s, mqtt_url, settle_s, progress))


def report(result: dict[str, Any]) -> list[str]:
    """Lines for people: each figure against the 1 s target."""

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f} ms"

    lines = []
    for name, label in (("alert_event", "live-stream alert event"), ("webhook", "webhook")):
        p99 = result[f"{name}_p99_ms"]
        verdict = "n/a" if p99 is None else ("met" if p99 <= 1000 else "NOT met")
        lines.append(
            f"{label}: p50 {ms(result[f'{name}_p50_ms'])}, p99 {ms(p99)}, "
            f"max {ms(result[f'{name}_max_ms'])} "
            f"({result[f'{name}s_seen']}/{result['probes']} probes; target p99 <= 1 s: {verdict})"
        )
    return lines
