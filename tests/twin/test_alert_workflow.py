"""The alert workflow end to end on real parts: a hazardous reading over Mosquitto becomes an
incident on the live stream, a signed webhook, an e-mail with the snapshot attached (aiosmtpd)
and an MQTT message; the ladder escalates on the twin's clock until someone acknowledges;
the audit trail and the delivery log show it all."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
import trimesh
import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alerts.email_notify import SmtpSettings
from alerts.manager import AlertManager
from alerts.rules import load_rules
from alerts.webhook import verify
from data import open_store
from models.access import Role
from models.types import Building
from sensors.mqtt import MqttEndpoint
from twin.alerting import NoticeSettings, alert_workflow
from twin.app import create_app
from twin.context import TwinContext
from twin.localservices import free_port
from twin.pipeline import Pipeline

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
SECRET = "correct horse battery staple"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Inbox:
    """What the twin's notices reached: webhooks (verified), mails, MQTT messages."""

    hooks: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    mails: list[EmailMessage] = field(default_factory=list)
    mqtt: list[dict[str, Any]] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        stamp = request.headers["x-twin-timestamp"]
        if not verify(SECRET, stamp, body, request.headers["x-twin-signature"]):
            self.bad_signatures += 1
            return Response(status_code=401)
        self.hooks.append(json.loads(body))
        return Response(status_code=204)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append(message)  # type: ignore[arg-type]
        return "250 OK"


@dataclass
class Live:
    api: httpx.AsyncClient
    clock: Clock
    inbox: Inbox
    device: str
    building_id: str
    hook_url: str
    mosquitto: MqttEndpoint

    async def publish_tilt(self, value: float, at: float) -> None:
        payload = json.dumps([{"n": f"{self.device}-tilt/x", "u": "mrad", "v": value, "t": at}])
        proc = await asyncio.create_subprocess_exec(
            "mosquitto_pub", "-h", self.mosquitto.host, "-p", str(self.mosquitto.port),
            "-q", "1", "-t", f"twin/v1/devices/{self.device}/readings", "-m", payload,
        )  # fmt: skip
        assert await asyncio.wait_for(proc.wait(), 10) == 0


async def until(predicate: Any, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling what other parts deliver
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def live(
    mosquitto: MqttEndpoint, tmp_path: Path, make_hall: Callable[[str], Building], grant: Any
) -> AsyncIterator[Live]:
    device = f"dev-{uuid.uuid4().hex[:8]}"
    building = make_hall(device)
    clock = Clock(NOW)
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    hook_port, api_port = free_port(), free_port()
    receiver = Starlette(routes=[Route("/hook", inbox.hook, methods=["POST"])])
    topic = f"twin/v1/buildings/{building.id}/alerts"
    try:
        async with (
            open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store,
            aiomqtt.Client(mosquitto.host, mosquitto.port) as listener,
            serving(receiver, hook_port),
        ):
            await listener.subscribe(topic, qos=1)

            async def hear() -> None:
                async for message in listener.messages:
                    inbox.mqtt.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]

            hearing = asyncio.create_task(hear())
            pipeline = Pipeline(store, load_rules(), AlertManager(save=store.save_alert))
            pipeline.alerts.load, pipeline.alerts.zone_of = store.alert, pipeline.zone_of
            await pipeline.add_building(building)
            ingest = pipeline.ingest(
                mosquitto, spool_dir=tmp_path / "spool", clock=clock, client_id=f"in-{device}"
            )
            context = TwinContext(
                store=store,
                pipeline=pipeline,
                clock=clock,
                broker_connected=ingest.connected.is_set,
                meshes={"test:box": trimesh.creation.box(bounds=[[0, 0, 0], [20, 10, 30]])},
            )
            settings = NoticeSettings(
                public_url=f"http://127.0.0.1:{api_port}",
                mqtt_host=mosquitto.host,
                mqtt_port=mosquitto.port,
                mqtt_client_id=f"alerts-{device}",
                smtp=SmtpSettings("127.0.0.1", smtp.port, sender="twin@nanjing.test"),
            )
            ingesting = asyncio.create_task(ingest.run())
            await asyncio.wait_for(ingest.connected.wait(), 10)
            # A facility manager's token, named as the person acting on the alerts.
            headers = await grant(store, Role.MANAGER, name="li.wei")
            async with (
                alert_workflow(context, settings),
                serving(create_app(context), api_port),
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", headers=headers) as api,
            ):
                yield Live(
                    api, clock, inbox, device, building.id, f"http://127.0.0.1:{hook_port}/hook",
                    mosquitto,
                )  # fmt: skip
            for task in (ingesting, hearing):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        smtp.stop()


async def read_stream(api: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    async with api.stream("GET", "/api/v1/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        with contextlib.suppress(httpx.ReadError):  # the server stops at the end of the test
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))


async def test_subscribe_receive_acknowledge_resolve_with_the_audit_trail(live: Live) -> None:
    api = live.api
    made = []
    for body in (
        {"name": "Ops webhook", "channel": "webhook", "contacts": [live.hook_url],
         "secret": SECRET, "building_id": live.building_id},
        {"name": "Facility manager", "channel": "email",
         "contacts": ["fm@nanjing.test", "director@nanjing.test"], "escalate_after_s": 600,
         "max_reminders": 1},
        {"name": "District bus", "channel": "mqtt", "contacts": [""]},
    ):  # fmt: skip
        response = await api.post("/api/v1/subscriptions", json=body)
        assert response.status_code == 201, response.text
        made.append(response.json())
    assert made[0]["has_secret"] is True and "secret" not in made[0]
    stream: list[dict[str, Any]] = []
    reading = asyncio.create_task(read_stream(api, stream))
    await asyncio.sleep(0.3)  # the stream is connected before the hazard

    await live.publish_tilt(3.4, NOW - 30)  # beyond the 3 mrad allowable inclination
    inbox = live.inbox
    await until(lambda: inbox.hooks and len(inbox.mails) == 1 and inbox.mqtt and stream)
    assert inbox.bad_signatures == 0
    hook = inbox.hooks[0]
    assert hook["kind"] == "opened" and hook["building"]["id"] == live.building_id
    alert = hook["alerts"][0]
    assert alert["rule_id"] == "tilt-limit" and alert["value"] == 3.4 and alert["limit"] == 3.0
    assert alert["floor"] == 1 and alert["zone"] == "corner-ne" and alert["position_m"]
    assert alert["standard"].startswith("GB 50007")
    incident_id = hook["incident"]["id"]
    assert hook["links"]["acknowledge"].endswith(f"/api/v1/incidents/{incident_id}/acknowledge")
    mail = inbox.mails[0]
    assert mail["To"] == "fm@nanjing.test" and "Tilt beyond" in mail["Subject"]
    attachments = [p for p in mail.iter_attachments() if p.get_content_type() == "image/png"]
    assert len(attachments) == 1
    assert attachments[0].get_content().startswith(b"\x89PNG")
    assert inbox.mqtt[0]["incident"]["id"] == incident_id
    assert stream[0]["event"]["action"] == "opened"

    live.clock.now = NOW + 600  # nobody acknowledged: the ladder reaches the director
    await until(lambda: len(inbox.mails) == 2)
    assert inbox.mails[1]["To"] == "director@nanjing.test"
    assert "escalated" in inbox.mails[1]["Subject"].lower()

    ack = await api.post(
        f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "li.wei", "note": "on site"}
    )
    assert ack.status_code == 200 and ack.json()["alerts"][0]["state"] == "acknowledged"
    await until(lambda: any(e["event"]["action"] == "acknowledged" for e in stream))
    live.clock.now = NOW + 3000  # acknowledged: no more reminders
    await asyncio.sleep(1.5)
    assert len(inbox.mails) == 2

    alert_id = alert["id"]
    # No "by": the token's holder acts.
    done = await api.post(f"/api/v1/alerts/{alert_id}/resolve", json={})
    assert done.status_code == 200 and done.json()["state"] == "resolved"
    # Someone else named: the token's holder still acts, for them, as the note says.
    noted = await api.post(
        f"/api/v1/alerts/{alert_id}/notes", json={"by": "zhang.min", "note": "photos filed"}
    )
    assert noted.status_code == 200
    await until(lambda: any(h["kind"] == "resolved" for h in inbox.hooks))
    again = await api.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={"by": "li.wei"})
    assert again.status_code == 409

    detail = (await api.get(f"/api/v1/alerts/{alert_id}")).json()
    trail = [(e["action"], e["actor"]) for e in detail["events"]]
    assert trail == [
        ("opened", "system"),
        ("acknowledged", "li.wei"),
        ("resolved", "li.wei"),
        ("note", "li.wei"),
    ]
    assert detail["events"][1]["note"] == "on site"
    assert detail["events"][3]["note"] == "for zhang.min: photos filed"
    incident = (await api.get(f"/api/v1/incidents/{incident_id}")).json()
    assert incident["incident"]["state"] == "resolved"
    deliveries = (await api.get("/api/v1/deliveries")).json()
    assert {(d["channel"], d["notice"], d["ok"]) for d in deliveries} >= {
        ("webhook", "opened", True),
        ("email", "opened", True),
        ("email", "escalated", True),
        ("mqtt", "opened", True),
        ("webhook", "resolved", True),
    }
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading


async def test_actions_refuse_what_makes_no_sense(live: Live) -> None:
    api = live.api
    missing = await api.post("/api/v1/alerts/nope/acknowledge", json={"by": "li.wei"})
    assert missing.status_code == 404
    anonymous = await api.post("/api/v1/alerts/nope/acknowledge", json={"by": ""})
    assert anonymous.status_code == 422
    unsigned = await api.post(
        "/api/v1/subscriptions",
        json={"name": "x", "channel": "webhook", "contacts": [live.hook_url]},
    )
    assert unsigned.status_code == 422 and "secret" in unsigned.text
    not_mail = await api.post(
        "/api/v1/subscriptions", json={"name": "x", "channel": "email", "contacts": ["li.wei"]}
    )
    assert not_mail.status_code == 422
    assert (await api.delete("/api/v1/subscriptions/nope")).status_code == 404
    assert (await api.get("/api/v1/incidents/nope")).status_code == 404


async def test_shelving_hides_the_alert_and_a_missed_stream_event_is_replayed(live: Live) -> None:
    api = live.api
    await live.publish_tilt(3.4, NOW - 30)
    alerts: list[dict[str, Any]] = []

    async def listed() -> bool:
        alerts[:] = (await api.get(f"/api/v1/alerts?building_id={live.building_id}")).json()
        return bool(alerts)

    async with asyncio.timeout(10):
        while not await listed():  # noqa: ASYNC110 - polling the API
            await asyncio.sleep(0.05)
    alert_id = alerts[0]["id"]
    shelved = await api.post(
        f"/api/v1/alerts/{alert_id}/shelve", json={"by": "li.wei", "minutes": 30, "note": "works"}
    )
    assert shelved.status_code == 200 and shelved.json()["shelved_until"]
    hidden = (await api.get(f"/api/v1/alerts?building_id={live.building_id}")).json()
    assert hidden == []
    shown = (
        await api.get(f"/api/v1/alerts?building_id={live.building_id}&include_shelved=true")
    ).json()
    assert [a["id"] for a in shown] == [alert_id]
    # A client that saw event 1 and dropped gets the rest on reconnecting.
    replay: list[str] = []
    async with api.stream("GET", "/api/v1/stream", headers={"Last-Event-ID": "1"}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                replay.append(json.loads(line.removeprefix("data: "))["event"]["action"])
            if "shelved" in replay:
                break
    assert replay == ["shelved"]
